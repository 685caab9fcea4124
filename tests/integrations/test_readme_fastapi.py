"""The README's FastAPI snippet, exactly as written, under uvicorn against the simulator.

The app is configured the way the README says: ``VIDEOAGENT_API_KEY``,
``VIDEOAGENT_BASE_URL`` and ``VIDEOAGENT_WEBHOOK_SECRET`` (and
``VIDEOAGENT_TIME_SCALE``, for a library that reads it). The project is
created directly through the API, never through the app, with the app's
webhook route as its ``webhook_url``: the webhooks make the app look at once,
whatever time scale its client runs on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from app_helpers import PHASE, bind_loopback, open_sse, project_gets, serve, wait_until
from test_readme import README, samples

from videoagent import AsyncVideoAgent
from videoagent.simulator import Simulator

LIFECYCLE = ["queued", "running", "generating", "rendering", "idle"]
SECTION = "## FastAPI, webhooks and live progress"


def readme_app() -> Any:
    """The ``app`` of the README's FastAPI section, run from its text."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    line = text.count("\n", 0, start) + 1
    last = text.count("\n", 0, end) + 1
    (sample,) = (s for s in samples(text) if line < s.line < last)
    namespace: dict[str, Any] = {"__name__": "readme_fastapi"}
    exec(compile(sample.code, f"{README}:{sample.line}", "exec"), namespace)
    return namespace["app"]


@pytest.fixture
async def app_url(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The README's app under uvicorn on loopback, configured from the environment; its URL."""
    monkeypatch.setenv("VIDEOAGENT_API_KEY", sim.api_key)
    monkeypatch.setenv("VIDEOAGENT_BASE_URL", sim.base_url)
    monkeypatch.setenv("VIDEOAGENT_WEBHOOK_SECRET", sim.webhook_secret)
    monkeypatch.setenv("VIDEOAGENT_TIME_SCALE", str(sim.time_scale))
    sock, url = bind_loopback()
    async with serve(readme_app(), sock):
        yield url


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[AsyncVideoAgent]:
    """A client of the API itself, apart from the app's."""
    async with AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale) as client:
        yield client


async def test_the_readme_app_streams_a_project_it_did_not_create(
    sim: Simulator, app_url: str, api: AsyncVideoAgent
) -> None:
    """A project created directly through the API: its stream starts with its snapshot,
    then every status change follows, to idle with a result."""
    project = await api.projects.create(
        "a teaser", mode="autonomous", webhook_url=f"{app_url}/webhooks/videoagent"
    )
    async with (
        aiohttp.ClientSession() as session,
        open_sse(session, f"{app_url}/videos/{project.id}/events", sim.clock.unix) as sse,
    ):
        kind, snapshot = await sse.next()
        assert (kind, snapshot["id"], snapshot["status"]) == ("project", project.id, "queued")
        for status in LIFECYCLE[1:]:
            sim.advance(PHASE)
            await sse.until(lambda k, d, s=status: k == "project" and d["status"] == s)
    assert sse.statuses() == LIFECYCLE
    assert sse.events[-1][2]["has_result"] is True


async def test_unknown_and_malformed_ids_answer_404_before_any_stream(
    sim: Simulator, app_url: str
) -> None:
    """An id the API does not know, and one that is not ``prj_...`` (never sent to the API),
    answer 404 with a JSON detail instead of an event stream."""
    async with aiohttp.ClientSession() as session:
        for project_id in ("prj_doesnotexist1", "not-a-project", "prj_%2E%2E"):
            async with session.get(f"{app_url}/videos/{project_id}/events") as answer:
                assert answer.status == 404, project_id
                assert answer.content_type == "application/json"
                assert await answer.json() == {"detail": "no such project"}
    await wait_until(lambda: len(project_gets(sim, "prj_doesnotexist1")) == 1)
    assert [r.path for r in sim.request_log if r.path.startswith("/v1/projects")] == [
        "/v1/projects/prj_doesnotexist1"
    ]
