"""Live status in browsers: webhook to SSE latency and API requests, by number of viewers.

A FastAPI app on ``videoagent.integrations.fastapi`` (one client, its shared
watcher, a feed, the webhook router and ``event_stream``) runs under uvicorn
on loopback; the simulator (``time_scale=0.01``) runs in the same process
and sends real signed webhooks. One project is created through the app and
``N`` SSE clients follow it. Each phase lasts until the benchmark moves the
simulator's clock (``advance``), so every status change starts at a known
instant; its latency is the real time until *every* viewer has it.

Side by side, in one run:

- **webhooks**: routine polls effectively off (1000 real seconds apart),
  the app learns of each change from its webhook; N = 1, 50, 200, 500.
- **polling only**: no ``webhook_url``, the contract's poll intervals; 1
  viewer. Its latency is shown in contract seconds (real / time_scale): what
  a user of the real service would wait.

The API requests the app made for the whole lifecycle are counted from the
simulator's request log: they must not grow with N.

    python -m benchmarks.sse_viewers [--viewers 1,50,200,500]

Results: ``benchmarks/results/sse_viewers.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from benchmarks._report import RESULTS, save, stamp
from videoagent import AsyncVideoAgent, PollPolicy
from videoagent.integrations.fastapi import StateDep, event_stream, lifespan, webhook_router
from videoagent.simulator import Simulator

TIME_SCALE = 0.01
PHASE = 1000.0
NEVER = 100_000.0
WEBHOOKS_ONLY = PollPolicy(
    queued=NEVER, running=NEVER, generating=(NEVER, NEVER), rendering=NEVER, unknown=NEVER
)
STEPS = ["running", "generating", "rendering", "idle"]


def _app(sim: Simulator, policy: PollPolicy | None, webhook_url: str | None) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan(
            lambda: AsyncVideoAgent(
                sim.api_key, sim.base_url, time_scale=sim.time_scale, poll_policy=policy
            ),
            webhook_secret=sim.webhook_secret,
            webhook_url=webhook_url,
        )
    )
    app.include_router(webhook_router())

    @app.post("/projects")
    async def create(state: StateDep) -> dict[str, str]:
        project = await state.client.projects.create(
            "a teaser", mode="autonomous", webhook_url=state.webhook_url
        )
        state.watcher.watch(project)
        state.feed.update(project)
        return {"id": project.id}

    @app.get("/projects/{project_id}/events")
    async def events(project_id: str, state: StateDep) -> Response:
        return event_stream(state.feed, project_id)

    return app


def _bind() -> tuple[socket.socket, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def _serve(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    config = uvicorn.Config(
        app, log_config=None, access_log=False, ws="none", http="h11", backlog=2048,
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        while not server.started:  # noqa: ASYNC110 - readers append, no event - uvicorn has no "started" event
            await anyio.sleep(0.005)
        try:
            yield
        finally:
            server.should_exit = True


async def _viewer(
    session: aiohttp.ClientSession, url: str, arrivals: dict[str, list[float]], ready: list[int]
) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with session.get(url, timeout=timeout) as response:
        kind = ""
        last = None
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == "project":
                status = json.loads(line[5:])["status"]
                if status != last:
                    last = status
                    arrivals.setdefault(status, []).append(time.perf_counter())
                    if status == "queued":
                        ready[0] += 1
                    if status == "idle":
                        return


async def scenario(viewers: int, *, webhooks: bool) -> dict[str, Any]:
    """One project followed by ``viewers`` SSE clients; latencies and request count."""
    durations = dict.fromkeys(("queued", *STEPS[:-1]), (PHASE, PHASE))
    async with Simulator(time_scale=TIME_SCALE, seed=7, durations=durations) as sim:
        sock, url = _bind()
        hook_url = f"{url}/webhooks/videoagent" if webhooks else None
        app = _app(sim, WEBHOOKS_ONLY if webhooks else None, hook_url)
        async with _serve(app, sock):
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.post(f"{url}/projects") as answer:
                    project_id = (await answer.json())["id"]
                arrivals: dict[str, list[float]] = {}
                ready = [0]
                async with anyio.create_task_group() as tasks:
                    for _ in range(viewers):
                        tasks.start_soon(
                            _viewer, session, f"{url}/projects/{project_id}/events", arrivals, ready
                        )
                    while ready[0] < viewers:  # noqa: ASYNC110 - readers append, no event - a counter, checked often
                        await anyio.sleep(0.001)
                    latencies: list[float] = []
                    for status in STEPS:
                        started = time.perf_counter()
                        sim.advance(PHASE)
                        while len(arrivals.get(status, ())) < viewers:  # noqa: ASYNC110 - readers append, no event
                            await anyio.sleep(0.0005)
                        latencies.extend(t - started for t in arrivals[status])
        requests = len(sim.request_log)
    return {
        "viewers": viewers,
        "webhooks": webhooks,
        "requests": requests,
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "latency_max_ms": round(max(latencies) * 1000, 2),
        "latency_p50_contract_s": round(statistics.median(latencies) / TIME_SCALE, 2),
        "latency_max_contract_s": round(max(latencies) / TIME_SCALE, 2),
    }


async def measure(counts: list[int]) -> dict[str, Any]:
    """Every scenario, one after another in this process."""
    runs = [await scenario(n, webhooks=True) for n in counts]
    runs.append(await scenario(1, webhooks=False))
    return {
        **stamp(),
        "time_scale": TIME_SCALE,
        "runs": runs,
    }


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    rows = "\n".join(
        f"| webhooks | {r['viewers']} | {r['requests']} "
        f"| {r['latency_p50_ms']:.1f} ms | {r['latency_max_ms']:.1f} ms |"
        if r["webhooks"]
        else f"| polling only | {r['viewers']} | {r['requests']} "
        f"| {r['latency_p50_contract_s']:.1f} s | {r['latency_max_contract_s']:.1f} s |"
        for r in result["runs"]
    )
    save(
        "sse_viewers",
        result,
        f"""# Live status in browsers: webhook to SSE, by number of viewers

One project through a FastAPI app (`videoagent.integrations.fastapi`) under uvicorn,
followed by N SSE clients; the simulator in the same process at time_scale
{result["time_scale"]}, sending signed webhooks. Latency: from the status change
(`sim.advance`) until every viewer has it, over the 4 changes of the lifecycle.
Requests: every API request the app made for the whole lifecycle.
{result["machine"]["cpus"]} CPUs, Python {result["machine"]["python"]}, {result["when"]}.

| status source | viewers | API requests | latency p50 | latency max |
|---|---|---|---|---|
{rows}

What a user of the real service would wait. The webhook path is real time
(delivery, one GET, the fan-out; it does not scale with time_scale), measured
with the viewers' own HTTP parsing on the same 2 cores as the app. The polling
path waits for the next poll at the contract's intervals (30 s while running
or rendering, 30-60 s while generating): its real time / time_scale.

Reproduce: `python -m benchmarks.sse_viewers`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and write the results; 1 if the request count grew with viewers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--viewers", default="1,50,200,500")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.viewers.split(",")]
    result = anyio.run(measure, counts)
    write(result)
    print((RESULTS / "sse_viewers.md").read_text())
    webhook_runs = [r for r in result["runs"] if r["webhooks"]]
    return 0 if len({r["requests"] for r in webhook_runs}) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
