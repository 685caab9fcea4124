"""``videoagent.integrations.fastapi``: the lifespan, its dependencies, the routes' helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from app_helpers import bind_loopback, open_sse, serve
from fastapi import FastAPI
from fastapi.responses import Response
from starlette.requests import Request

from videoagent import AsyncVideoAgent, ConfigurationError
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


def _app(sim: Simulator, **options: Any) -> FastAPI:
    """A minimal app on the integration: ids of what the routes get, one project, its events."""
    app = FastAPI(
        lifespan=lifespan(
            lambda: AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale),
            **options,
        )
    )
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
