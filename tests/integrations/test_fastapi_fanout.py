"""Many SSE viewers of one project cost the API nothing more than one viewer."""

from __future__ import annotations

import contextlib

import aiohttp
import attrs
from app_helpers import (
    PHASE,
    STEPPED,
    WEBHOOKS_ONLY,
    SSEStream,
    bind_loopback,
    example_app,
    open_sse,
    project_gets,
    serve,
)

from videoagent.simulator import Simulator

LIFECYCLE = ["queued", "running", "generating", "rendering", "idle"]


@attrs.frozen
class Run:
    """What one scenario cost and showed."""

    requests: int
    project_gets: int
    webhooks: int
    peak_readers: int
    streams: tuple[SSEStream, ...]


async def _watch_one_project(viewers: int) -> Run:
    """A project created through the app, followed to the end by ``viewers`` SSE clients."""
    async with Simulator(time_scale=0.01, seed=7, durations=STEPPED) as sim:
        sock, url = bind_loopback()
        app = example_app(sim, url, policy=WEBHOOKS_ONLY)
        connector = aiohttp.TCPConnector(limit=0)
        async with serve(app, sock), aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
                f"{url}/api/projects", json={"brief": "a teaser", "mode": "autonomous"}
            ) as r:
                assert r.status == 201
                project_id = (await r.json())["id"]
            async with contextlib.AsyncExitStack() as stack:
                events = f"{url}/api/projects/{project_id}/events"
                streams = [
                    await stack.enter_async_context(open_sse(session, events, sim.clock.unix))
                    for _ in range(viewers)
                ]
                for stream in streams:
                    first = await stream.until(lambda kind, _: kind == "project")
                    assert first["status"] == "queued"
                peak = app.state.videoagent.feed.reader_count
                for status in LIFECYCLE[1:]:
                    sim.advance(PHASE)
                    for stream in streams:
                        await stream.until(
                            lambda kind, data, s=status: kind == "project" and data["status"] == s
                        )
        hooks = [d for d in sim.webhook_deliveries if d.project_id == project_id]
        return Run(
            requests=len(sim.request_log),
            project_gets=len(project_gets(sim, project_id)),
            webhooks=len(hooks),
            peak_readers=peak,
            streams=tuple(streams),
        )


async def test_two_hundred_viewers_cost_no_more_requests_than_one() -> None:
    """With 200 concurrent SSE clients the app makes exactly the requests it makes for one,
    one GET per webhook of a new status, and every client sees every status."""
    one = await _watch_one_project(1)
    many = await _watch_one_project(200)
    assert many.peak_readers == 200
    assert one.peak_readers == 1
    assert many.requests == one.requests
    assert many.webhooks == len(LIFECYCLE)
    assert many.project_gets == len(LIFECYCLE) - 1  # the "queued" webhook costs no GET
    for stream in many.streams:
        assert stream.statuses() == LIFECYCLE
