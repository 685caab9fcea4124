"""``client.watcher`` of a ``VideoAgent``: webhooks from a plain (WSGI-style) view, events."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from blocking_helpers import client_of

from videoagent import (
    InvalidRequestError,
    PollPolicy,
    Project,
    ProjectStatus,
    StatusChanged,
    VideoAgent,
    WatcherStatistics,
)
from videoagent.simulator import BackgroundSimulator
from videoagent.webhooks import WebhookError, WebhookVerifier

#: Routine polls days apart: within a test only a webhook (a notify) makes a GET.
NEVER = 1e9
WEBHOOKS_ONLY = PollPolicy(
    queued=NEVER, running=NEVER, generating=(NEVER, NEVER), rendering=NEVER, unknown=NEVER
)


@pytest.fixture
def webhook_client(videoagent_simulator: BackgroundSimulator) -> Iterator[VideoAgent]:
    """A ``VideoAgent`` whose shared watcher never polls on its own within a test."""
    with client_of(videoagent_simulator, poll_policy=WEBHOOKS_ONLY) as client:
        yield client


@pytest.fixture
def webhook_view(
    videoagent_simulator: BackgroundSimulator, webhook_client: VideoAgent
) -> Iterator[str]:
    """The URL of a blocking webhook endpoint (``http.server`` in a thread, as a Django or
    Flask view would be): it verifies each webhook and hands it to ``client.watcher.notify``."""
    verifier = WebhookVerifier(videoagent_simulator.webhook_secret)

    class View(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                event = verifier.verify(dict(self.headers), body)
            except WebhookError as error:
                self.send_response(error.status)
            else:
                webhook_client.watcher.notify(event.project_id, status=event.status)
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), View)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_webhooks_from_a_blocking_view_drive_a_wait_to_the_end(
    videoagent_simulator: BackgroundSimulator, webhook_client: VideoAgent, webhook_view: str
) -> None:
    """A wait whose routine polls are days apart ends, because each webhook the view
    hands to ``client.watcher.notify`` polls the project at once."""
    project = webhook_client.projects.create("a teaser", webhook_url=webhook_view)
    done = webhook_client.projects.wait(project.id, timeout=5000.0)
    assert done.status is ProjectStatus.IDLE
    deliveries = [d for d in videoagent_simulator.webhook_deliveries if d.project_id == project.id]
    assert deliveries
    assert {d.status for d in deliveries} == {204}
    assert webhook_client.watcher.statistics().polls >= 1


def test_events_are_a_plain_iterator_from_now_on(
    videoagent_simulator: BackgroundSimulator, blocking_client: VideoAgent
) -> None:
    """``watcher.events(id)`` subscribes at once; after ``watch`` it yields the project's
    status changes in order, up to idle; ``close()`` unsubscribes."""
    project = blocking_client.projects.create("a teaser")
    events = blocking_client.watcher.events(project.id)
    blocking_client.watcher.watch(project)
    assert blocking_client.watcher.statistics().watched >= 1
    seen: list[ProjectStatus] = []
    for event in events:
        if isinstance(event, StatusChanged):
            seen.append(event.project.status)
            if event.project.status is ProjectStatus.IDLE:
                break
    events.close()
    order = list(ProjectStatus)
    assert seen[-1] is ProjectStatus.IDLE
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    blocking_client.watcher.unwatch(project.id)
    assert blocking_client.watcher.wait(project.id).status is ProjectStatus.IDLE


def test_the_watcher_checks_ids_and_gives_a_snapshot(blocking_client: VideoAgent) -> None:
    """A malformed id raises ``InvalidRequestError`` at once and sends nothing;
    ``statistics()`` is the async watcher's frozen snapshot."""
    with pytest.raises(InvalidRequestError):
        blocking_client.watcher.notify("not-an-id")
    with pytest.raises(InvalidRequestError):
        blocking_client.watcher.watch("prj_")
    blocking_client.watcher.notify("prj_" + "x" * 16)  # not watched here: ignored
    stats = blocking_client.watcher.statistics()
    assert isinstance(stats, WatcherStatistics)
    assert stats.polls == 0


def test_a_waits_updates_come_through_the_watcher_too(blocking_client: VideoAgent) -> None:
    """``watcher.wait(on_update=...)`` runs ``on_update`` in the waiting thread."""
    project = blocking_client.projects.create("a teaser")
    seen: list[tuple[ProjectStatus, str]] = []

    def on_update(p: Project) -> None:
        seen.append((p.status, threading.current_thread().name))

    done = blocking_client.watcher.wait(project.id, on_update=on_update)
    assert done.status is ProjectStatus.IDLE
    assert seen[-1][0] is ProjectStatus.IDLE
    assert {name for _, name in seen} == {threading.current_thread().name}
