"""``ProjectFeed``: one watcher's events fanned out to many readers, snapshot first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import anyio
import anyio.abc
import attrs
import pytest

from videoagent import (
    AsyncVideoAgent,
    ConfigurationError,
    Message,
    Project,
    ProjectStatus,
    ProjectWatcher,
)
from videoagent.integrations import FeedEvent, ProjectFeed, sse_format
from videoagent.simulator import Simulator

QUICK = dict.fromkeys(("queued", "running", "generating", "rendering"), (10.0, 10.0))


@pytest.fixture
async def quick_client() -> AsyncIterator[AsyncVideoAgent]:
    """A client on a simulator whose phases last 10 contract seconds (0.1 s)."""
    async with (
        Simulator(time_scale=0.01, seed=7, durations=QUICK) as sim,
        AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale) as client,
    ):
        yield client


@pytest.fixture
async def project(quick_client: AsyncVideoAgent) -> Project:
    """A freshly created project (a real one, from the simulator)."""
    return await quick_client.projects.create("a teaser")


def _message(project_id: str, content: str, message_id: str = "msg_1") -> Message:
    return Message(message_id, project_id, "agent", content, datetime.now(timezone.utc))


async def _drain(events: AsyncIterator[FeedEvent]) -> list[FeedEvent]:
    return [event async for event in events]


async def test_a_reader_falling_a_buffer_behind_is_dropped(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """A reader that does not keep up loses its stream (it reconnects), others are unaffected."""
    feed = ProjectFeed(quick_client.watcher, buffer=2)
    async with feed.subscribe(project.id) as slow, feed.subscribe(project.id) as other:
        for progress in (0.1, 0.2):
            feed.update(attrs.evolve(project, progress=progress))
        assert [e.data["progress"] for e in [await anext(aiter(other)) for _ in range(2)]] == [
            0.1,
            0.2,
        ]
        feed.update(attrs.evolve(project, progress=0.3))  # slow already holds two
        assert [e.data["progress"] for e in await _drain(slow)] == [0.1, 0.2]
        assert feed.dropped == 1
        assert (await anext(aiter(other))).data["progress"] == 0.3
        assert feed.reader_count == 1
    assert feed.reader_count == 0


async def test_a_new_reader_gets_state_messages_and_the_open_decision(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """The snapshot is the latest state, the remembered messages (once each), then the question."""
    feed = ProjectFeed(quick_client.watcher)
    asking = attrs.evolve(project, status=ProjectStatus.IDLE, agent_message="Go ahead?")
    feed.update(asking)
    feed.update(asking)  # unchanged: no second event
    feed.record(_message(project.id, "Go ahead?"))
    feed.record(_message(project.id, "Go ahead?"))  # the same id: kept once
    async with feed.subscribe(project.id) as events:
        kinds = []
        with anyio.move_on_after(0.05):
            async for event in events:
                kinds.append((event.kind, event.data.get("question")))
    assert kinds == [("project", None), ("message", None), ("decision", "Go ahead?")]
    assert feed.get(project.id) == asking
    assert feed.projects() == [asking]
    frame = sse_format(FeedEvent("decision", project.id, {"question": "a\nb"}))
    assert frame == b'event: decision\ndata: {"question":"a\\nb"}\n\n'


async def test_running_feed_relays_a_watched_project_to_the_end(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """Status, progress and the agent's summary reach a reader; stopping the feed ends readers."""
    watcher = ProjectWatcher(quick_client)
    feed = ProjectFeed(watcher, client=quick_client)
    feed_scope = anyio.CancelScope()

    async def run_feed(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        with feed_scope:
            await feed.run(task_status=task_status)

    async with watcher, anyio.create_task_group() as tasks:
        await tasks.start(run_feed)
        watcher.watch(project.id)
        seen: list[FeedEvent] = []
        async with feed.subscribe(project.id) as events:
            async for event in events:
                seen.append(event)
                if event.kind == "message":
                    break
        async with feed.subscribe(project.id) as late:
            feed_scope.cancel()
            after_stop = await _drain(late)
    statuses = [e.data["status"] for e in seen if e.kind == "project"]
    assert statuses[0] in ("queued", "running")
    assert statuses[-1] == "idle"
    assert seen[-1].data["content"].startswith("Done")
    assert [e.kind for e in after_stop] == ["project", "message"]  # the snapshot, then the end
    assert feed.reader_count == 0
    with pytest.raises(RuntimeError, match="runs once"):
        await feed.run()


async def test_feed_forgets_the_least_recent_unfollowed_projects_past_keep(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """Past ``keep`` the least recently updated project nobody follows is forgotten."""
    feed = ProjectFeed(quick_client.watcher, keep=3)
    ids = [f"prj_keep{n:04d}" for n in range(8)]
    async with feed.subscribe(ids[0]) as followed:
        for project_id in ids:
            feed.update(attrs.evolve(project, id=project_id))
            feed.record(_message(project_id, "hello", f"msg_{project_id}"))
        feed.update(attrs.evolve(project, id=ids[5], progress=0.5))  # the most recent again
        remembered = {p.id for p in feed.projects()}
        assert remembered == {ids[0], ids[6], ids[7], ids[5]}  # followed + the 3 updated last
        assert feed.get(ids[1]) is None
        assert feed.messages(ids[2]) == ()
        assert len(feed.messages(ids[7])) == 1
        assert len(feed._messages) == len(feed._shown) == len(remembered)
        first = await anext(aiter(followed))
        assert (first.kind, first.project_id) == ("project", ids[0])
    feed.update(attrs.evolve(project, id="prj_keepnext"))  # ids[0] no longer followed
    assert feed.get(ids[0]) is None
    assert len(feed.projects()) == 3


async def test_feed_memory_is_bounded_by_default(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """A long-running feed that sees 1,500 projects remembers the 1,000 updated last."""
    feed = ProjectFeed(quick_client.watcher)
    for n in range(1500):
        feed.update(attrs.evolve(project, id=f"prj_many{n:05d}"))
        feed.record(_message(f"prj_many{n:05d}", "hi", f"msg_{n}"))
    assert len(feed.projects()) == 1000
    assert feed.get("prj_many00499") is None
    assert feed.get("prj_many00500") is not None
    assert len(feed._messages) == len(feed._shown) == 1000


def test_keep_must_be_positive() -> None:
    """keep=0 is refused."""
    with pytest.raises(ValueError, match="keep"):
        ProjectFeed(None, keep=0)  # type: ignore[arg-type]


async def test_follow_fetches_only_what_the_feed_does_not_know(
    quick_client: AsyncVideoAgent, project: Project
) -> None:
    """A known project is followed from its state at no request; an unknown one is fetched
    with the feed's client, and without a client the error says how to give it one."""
    feed = ProjectFeed(quick_client.watcher)
    feed.update(project)
    assert await feed.follow(project.id) is project
    other = await quick_client.projects.create("another teaser")
    with pytest.raises(ConfigurationError, match=r"ProjectFeed\(watcher, client=client\)"):
        await feed.follow(other.id)
    with_client = ProjectFeed(quick_client.watcher, client=quick_client)
    fetched = await with_client.follow(other.id)
    assert fetched.id == other.id
    assert with_client.get(other.id) == fetched
