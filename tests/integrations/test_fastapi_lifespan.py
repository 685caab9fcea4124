"""``videoagent.integrations.fastapi``: the lifespan, its dependencies, the routes' helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
from app_helpers import (
    WEBHOOKS_ONLY,
    bind_loopback,
    load_example,
    open_sse,
    project_gets,
    serve,
)
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.requests import Request

from videoagent import (
    AsyncVideoAgent,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PollPolicy,
    VideoAgentError,
)
from videoagent.integrations import ProjectFeed
from videoagent.integrations.fastapi import (
    WEBHOOK_SECRET_ENV,
    ClientDep,
    FeedDep,
    StateDep,
    VideoAgentState,
    WatcherDep,
    event_stream,
    get_state,
    lifespan,
    webhook_router,
)
from videoagent.simulator import Simulator


def _client(sim: Simulator, policy: PollPolicy | None = None) -> AsyncVideoAgent:
    return AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale, poll_policy=policy)


def _app(sim: Simulator, *, policy: PollPolicy | None = None, **options: Any) -> FastAPI:
    """A minimal app on the integration: ids of what the routes get, one project, its events."""
    app = FastAPI(lifespan=lifespan(lambda: _client(sim, policy), **options))
    app.include_router(webhook_router())

    @app.get("/ids")
    async def ids(client: ClientDep, watcher: WatcherDep, feed: FeedDep) -> dict[str, int]:
        return {"client": id(client), "watcher": id(watcher), "feed": id(feed)}

    @app.post("/projects")
    async def create(state: StateDep) -> dict[str, str]:
        project = await state.client.projects.create("a teaser", webhook_url=state.webhook_url)
        state.watcher.watch(project)
        state.feed.update(project)
        return {"id": project.id}

    @app.get("/projects/{project_id}/events")
    async def events(project_id: str, feed: FeedDep) -> Response:
        return event_stream(feed, project_id, heartbeat=0.02, retry=0.5)

    return app


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client."""
    async with aiohttp.ClientSession() as http:
        yield http


async def test_one_client_and_its_watcher_serve_every_request_and_close_after(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Every request gets the same client, the client's own shared watcher and one feed;
    shutdown closes them and removes the state."""
    app = _app(simulator, webhook_secret="whsec_x", webhook_url="http://example.invalid/hook")
    sock, url = bind_loopback()
    async with serve(app, sock):
        state: VideoAgentState = app.state.videoagent
        answers = []
        for _ in range(2):
            async with session.get(f"{url}/ids") as r:
                answers.append(await r.json())
        assert answers[0] == answers[1]
        assert answers[0]["client"] == id(state.client)
        assert state.watcher is state.client.watcher
        assert state.webhook_url == "http://example.invalid/hook"
        assert "whsec_x" not in repr(state)
    assert not hasattr(app.state, "videoagent")
    with pytest.raises(ConfigurationError, match="closed"):
        await state.client.projects.get("prj_gone")
    with pytest.raises(RuntimeError, match="async with"):
        state.watcher.watch("prj_gone")


async def test_webhooks_answer_503_without_a_secret(
    simulator: Simulator, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no secret passed nor in the environment, the webhook route refuses with 503."""
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    sock, url = bind_loopback()
    async with serve(_app(simulator), sock), session.post(f"{url}/webhooks/videoagent") as r:
        assert r.status == 503


async def test_the_secret_may_come_from_the_environment(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``VIDEOAGENT_WEBHOOK_SECRET`` configures the verifier when no secret is passed."""
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, simulator.webhook_secret)
    app = _app(simulator)
    sock, _ = bind_loopback()
    async with serve(app, sock):
        assert app.state.videoagent.verifier is not None
        assert simulator.webhook_secret not in repr(app.state.videoagent.verifier)


async def test_event_stream_sends_retry_the_snapshot_and_heartbeats(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """A stream starts with ``retry:``, then the project's state; idle moments carry comments."""
    app = _app(simulator, webhook_secret="whsec_x")
    sock, url = bind_loopback()
    async with serve(app, sock):
        async with session.post(f"{url}/projects") as r:
            project_id = (await r.json())["id"]
        events = f"{url}/projects/{project_id}/events"
        async with open_sse(session, events, simulator.clock.unix) as sse:
            kind, data = await sse.next()
            assert sse.retry == 500
            assert (kind, data["id"], data["status"]) == ("project", project_id, "queued")
            assert set(data) >= {"progress", "agent_message", "has_result", "decision", "mode"}
            await sse.heartbeat()
            await sse.heartbeat()
        assert sse.comments >= 2


async def test_a_route_without_the_lifespan_gets_a_clear_error() -> None:
    """``get_state`` on an app without the lifespan names what is missing."""
    request = Request({"type": "http", "app": FastAPI(), "headers": []})
    with pytest.raises(ConfigurationError, match=r"lifespan=lifespan"):
        get_state(request)


async def test_an_error_of_the_lifespan_block_comes_out_as_itself(simulator: Simulator) -> None:
    """An SDK call failing inside the lifespan, or any error there, raises that very error,
    never an exception group: the example app's startup listing with a wrong key, say."""
    wrong_key = "es_live_" + "0" * 32
    example = load_example().create_app(
        lambda: AsyncVideoAgent(wrong_key, simulator.base_url, time_scale=simulator.time_scale)
    )
    with pytest.raises(AuthenticationError):
        async with example.router.lifespan_context(example):
            pass
    app = FastAPI()
    with pytest.raises(NotFoundError):
        async with lifespan(lambda: _client(simulator))(app):
            await app.state.videoagent.client.projects.get("prj_doesnotexist1")
    with pytest.raises(KeyError, match="mine"):
        async with lifespan(lambda: _client(simulator))(app):
            raise KeyError("mine")
    assert not hasattr(app.state, "videoagent")


async def test_a_failing_feed_ends_the_lifespan_with_our_own_error(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the feed's own task fails (a bug, injected here), the block is cancelled and the
    lifespan raises one VideoAgentError caused by it, not an exception group."""

    def broken(feed: ProjectFeed, event: object) -> None:
        raise RuntimeError("a bug in the feed")

    async def serve_a_project() -> None:
        app = FastAPI()
        async with lifespan(lambda: _client(simulator))(app):
            state: VideoAgentState = app.state.videoagent
            state.watcher.watch(await state.client.projects.create("a teaser"))  # an event
            await anyio.sleep_forever()  # cancelled once the feed fails

    monkeypatch.setattr(ProjectFeed, "_on_event", broken)
    with pytest.raises(VideoAgentError, match="the project feed failed") as caught:
        await serve_a_project()
    assert type(caught.value) is VideoAgentError
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_viewers_of_a_project_the_app_did_not_create_cost_one_get(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Five viewers opening a project's stream at once, and one more after, all get its
    snapshot; the app fetched it once (routine polls are out of the picture here)."""
    async with _client(simulator, WEBHOOKS_ONLY) as api:  # the API directly, not the app
        project = await api.projects.create("a teaser")
    sock, url = bind_loopback()
    snapshots: list[tuple[str, str]] = []

    async def view() -> None:
        events = f"{url}/projects/{project.id}/events"
        async with open_sse(session, events, simulator.clock.unix) as sse:
            kind, data = await sse.next()
            snapshots.append((kind, data["id"]))

    async with serve(_app(simulator, policy=WEBHOOKS_ONLY), sock):
        async with anyio.create_task_group() as viewers:
            for _ in range(5):
                viewers.start_soon(view)
        await view()
    assert snapshots == [("project", project.id)] * 6
    assert len(project_gets(simulator, project.id)) == 1
