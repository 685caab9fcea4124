"""Many threads, one ``VideoAgent``: one budget, one set of slots, one watcher."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from pathlib import Path

import pytest
from blocking_helpers import client_of
from common_helpers import max_in_window

from videoagent import Project, ProjectStatus, VideoAgent, WatchStoppedError
from videoagent.simulator import BackgroundSimulator

THREADS = 16


def project_gets(sim: BackgroundSimulator) -> Counter[str]:
    """``GET /v1/projects/{id}`` requests the server saw, by project id."""
    found: Counter[str] = Counter()
    for record in sim.request_log:
        parts = record.path.split("/")
        if record.method == "GET" and len(parts) == 4 and parts[2] == "projects":
            found[parts[3]] += 1
    return found


def assert_within_the_limits(sim: BackgroundSimulator, projects: int) -> None:
    """The server never saw more than 30 requests in a window or 5 active projects, no 429,
    and exactly ``projects`` creates."""
    stats = sim.stats()
    assert stats.rate_limited == 0
    assert stats.project_limit == 0
    assert stats.max_active_projects <= 5
    assert stats.max_window_requests <= 30
    assert max_in_window([r.at for r in sim.request_log if r.counted], 60 * sim.time_scale) <= 30
    assert stats.projects_created == projects  # no duplicate


def test_sixteen_threads_share_one_client_within_the_limits(
    videoagent_simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """16 threads create, wait and download through one client while the main thread lists:
    every video verified, on_update in each waiting thread, the server never over 30 requests
    a window or 5 active, no 429, no duplicate, every poll the one watcher's, no thread left."""
    sim = videoagent_simulator
    before = set(threading.enumerate())
    client = client_of(sim)
    start = threading.Barrier(THREADS + 1)
    finished: dict[int, Project] = {}
    updates: dict[int, list[tuple[ProjectStatus, str]]] = {}
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            project = client.projects.create(f"brief {n}", metadata={"n": str(n)})
            seen = updates[n] = []
            finished[n] = client.projects.wait(
                project.id,
                on_update=lambda p: seen.append((p.status, threading.current_thread().name)),
            )
            data = client.projects.download(project.id, tmp_path / f"{n}.mp4").read_bytes()
            result = client.projects.result(project.id)
            assert (len(data), hashlib.sha256(data).hexdigest()) == (
                result.size_bytes,
                result.sha256,
            )
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=worker, args=(n,), name=f"worker-{n}") for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    listings = []
    while any(thread.is_alive() for thread in threads):
        listings.append(list(client.projects.list(limit=5)))
    for thread in threads:
        thread.join()
    polls = client.watcher.statistics().polls
    client.close()
    left = set(threading.enumerate()) - before

    assert failures == []
    assert sorted(finished) == list(range(THREADS))
    assert {p.status for p in finished.values()} == {ProjectStatus.IDLE}
    for n, seen in updates.items():  # each thread's updates, in that thread, in order
        assert {name for _, name in seen} == {f"worker-{n}"}
        assert seen[-1][0] is ProjectStatus.IDLE
    assert listings
    assert all(isinstance(p, Project) for listing in listings for p in listing)
    assert_within_the_limits(sim, THREADS)
    assert len({p.id for p in finished.values()}) == THREADS
    # Every GET of a project was the shared watcher's (the listings' answers fed it too,
    # so some projects were seen finished without one).
    gets = project_gets(sim)
    assert set(gets) <= {p.id for p in finished.values()}
    assert sum(gets.values()) == polls > 0
    assert left == set()  # the engine's thread and the workers its downloads used


def test_callbacks_run_in_the_waiting_thread_and_may_call_the_client(
    blocking_client: VideoAgent,
) -> None:
    """``on_update`` runs in the thread that waits, which may block in it and call the client."""
    project = blocking_client.projects.create("a teaser")
    seen: list[tuple[str, str, int]] = []

    def on_update(p: Project) -> None:
        account = blocking_client.account.get()  # a blocking call from the callback
        seen.append((p.status.value, threading.current_thread().name, account.credits))

    done = blocking_client.projects.wait(project.id, on_update=on_update)
    assert done.status is ProjectStatus.IDLE
    assert seen[-1][0] == "idle"
    assert {name for _, name, _ in seen} == {threading.current_thread().name}


def test_an_async_on_update_is_awaited(blocking_client: VideoAgent) -> None:
    """An async ``on_update`` is awaited (on the engine), as the async client does."""
    project = blocking_client.projects.create("a teaser")
    seen: list[str] = []

    async def on_update(p: Project) -> None:
        seen.append(p.status.value)

    blocking_client.projects.wait(project.id, on_update=on_update)
    assert seen[-1] == "idle"


def test_a_raising_on_update_is_logged_and_the_wait_goes_on(
    blocking_client: VideoAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in ``on_update`` is logged, and the wait still ends with the project."""
    project = blocking_client.projects.create("a teaser")

    def on_update(p: Project) -> None:
        raise ValueError(f"bad display at {p.status.value}")

    done = blocking_client.projects.wait(project.id, on_update=on_update)
    assert done.status is ProjectStatus.IDLE
    assert "bad display at idle" in caplog.text


@pytest.mark.videoagent_simulator(time_scale=0.05)  # a project lasts seconds: closed before
def test_closing_ends_a_wait_in_another_thread(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """``close()`` while another thread waits: that wait raises ``WatchStoppedError``, no hang."""
    client = client_of(videoagent_simulator)
    project = client.projects.create("a teaser")
    waiting = threading.Event()
    outcome: list[BaseException | Project] = []

    def wait() -> None:
        try:
            outcome.append(
                client.projects.wait(project.id, on_update=lambda _: waiting.set(), timeout=1e9)
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait(30)
    client.close()
    thread.join(30)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], WatchStoppedError)
