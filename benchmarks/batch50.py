"""50 autonomous briefs through 5 active slots: makespan against its lower bound.

Three runs, one after another, each against a fresh simulator in its own
process with the same seed and the contract's durations (queued 5-60 s,
running 60-180 s, generating 120-480 s, rendering 30-90 s), at a small
``time_scale``:

* **naive**: the loop people write first, a bare ``aiohttp`` session, a task
  per brief, a semaphore of 5 held from create to the end, and
  ``asyncio.sleep(interval)`` at the contract's intervals (5 s queued, 30 s
  running, generating and rendering); a 429 is retried after ``Retry-After``;
* **ours, polling**: ``client.projects.create`` then ``client.projects.wait``
  for each brief (the client's shared watcher; slots free the moment it sees
  a project end);
* **ours, webhooks**: the same, each project created with a ``webhook_url``
  served by ``videoagent.webhooks.aiohttp_receiver`` on loopback (it checks
  the signature and calls ``watcher.notify(project_id)`` on the shared
  watcher).

The lower bound of a run is the 5-slot schedule of *its* realised durations
(each project's time from ``queued`` to ``idle``, from the simulator's
history) in creation order, each start the instant a slot frees: no
detection delay, no request time. The makespan runs from just before the
first create until the last project is known to be done. Requests per
project come from the simulator's request log (every ``/v1`` request, 429s
included).

    python -m benchmarks.batch50 [--time-scale 0.005] [--seed 7] [--projects 50]

Results: ``benchmarks/results/batch50.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel

from benchmarks._report import save, stamp
from benchmarks._simproc import SimProcess, control, simulator_process
from videoagent import AsyncVideoAgent, __version__
from videoagent.webhooks import aiohttp_receiver

SLOTS = 5
TARGET_POLLING = 1.04
TARGET_WEBHOOKS = 1.01
#: the naive loop's sleeps, contract seconds (generating: the low end of 30-60 s)
NAIVE_INTERVALS = {"queued": 5.0, "running": 30.0, "generating": 30.0, "rendering": 30.0}
ACTIVE = frozenset(NAIVE_INTERVALS)


def lower_bound(durations: list[float], slots: int = SLOTS) -> float:
    """Makespan of ``durations`` run in order on ``slots`` slots, each start at a free slot."""
    free = [0.0] * slots
    end = 0.0
    for duration in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + duration)
        end = max(end, start + duration)
    return end


async def _naive(sim: SimProcess, briefs: list[str], time_scale: float) -> dict[str, int]:
    """The naive baseline; returns its counts of 429 answers it saw."""
    seen: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    semaphore = asyncio.Semaphore(SLOTS)

    async with aiohttp.ClientSession(headers=headers) as session:

        async def call(method: str, path: str, body: Any = None) -> dict[str, Any]:
            while True:
                async with session.request(method, sim.base_url + path, json=body) as answer:
                    data: dict[str, Any] = await answer.json()
                    if answer.status != 429:
                        answer.raise_for_status()
                        return data
                    seen[data["error"]["code"]] += 1
                    await asyncio.sleep(float(answer.headers["Retry-After"]) * time_scale)

        async def one(brief: str) -> None:
            async with semaphore:
                body = {"brief": brief, "idempotency_key": uuid.uuid4().hex}
                project = await call("POST", "/projects", body)
                while project["status"] in ACTIVE:
                    await asyncio.sleep(NAIVE_INTERVALS[project["status"]] * time_scale)
                    project = await call("GET", f"/projects/{project['id']}")

        await asyncio.gather(*(one(brief) for brief in briefs))
    return dict(seen)


async def _ours(
    sim: SimProcess, briefs: list[str], time_scale: float, *, webhooks: bool
) -> dict[str, int]:
    """Our client (shared watcher), with or without a webhook receiver."""
    async with AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=time_scale) as client:
        watcher = client.watcher  # the shared watcher that client.projects.wait uses
        async with contextlib.AsyncExitStack() as stack:
            webhook_url: str | None = None
            if webhooks:
                async with aiohttp.ClientSession() as session:
                    answer = await control(session, sim, "GET", "webhook-secret")
                receiver = await stack.enter_async_context(
                    aiohttp_receiver(watcher, answer["webhook_secret"])
                )
                webhook_url = receiver.url

            async def one(brief: str) -> None:
                project = await client.projects.create(brief, webhook_url=webhook_url)
                await client.projects.wait(project.id)

            async with anyio.create_task_group() as group:
                for brief in briefs:
                    group.start_soon(one, brief)
                    await anyio.lowlevel.checkpoint()  # creation order = brief order
    return {}


async def one_run(
    name: str,
    run: Callable[[SimProcess], Awaitable[dict[str, int]]],
    *,
    time_scale: float,
    seed: int,
    projects: int,
) -> dict[str, Any]:
    """One run against a fresh simulator process; makespan, lower bound, counts."""
    async with simulator_process(time_scale=time_scale, seed=seed) as sim:
        started = time.monotonic()
        await run(sim)
        makespan = (time.monotonic() - started) / time_scale
        async with aiohttp.ClientSession() as session:
            stats = await control(session, sim, "GET", "stats")
            snapshots = (await control(session, sim, "GET", "projects"))["data"]
            log = (await control(session, sim, "GET", "requests"))["data"]
    durations = []
    for snapshot in snapshots:  # oldest first: creation order
        history = snapshot["history"]
        assert history[0][0] == "queued", history
        assert history[-1][0] == "idle", history
        durations.append(history[-1][1] - history[0][1])
    durations = [d / time_scale for d in durations]  # unix seconds of the real clock
    bound = lower_bound(durations)
    by_kind = Counter(
        "create" if r["method"] == "POST" else "get" if r["path"].count("/") == 3 else "other"
        for r in log
    )
    return {
        "name": name,
        "projects": len(snapshots),
        "makespan": round(makespan, 1),
        "lower_bound": round(bound, 1),
        "ratio": round(makespan / bound, 4),
        "requests": len(log),
        "requests_per_project": round(len(log) / projects, 2),
        "requests_by_kind": dict(by_kind),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "rate_limited": stats["rate_limited"],
        "project_limit": stats["project_limit"],
        "max_window_requests": stats["max_window_requests"],
        "max_active_projects": stats["max_active_projects"],
        "wall_seconds": round(makespan * time_scale, 1),
    }


async def measure(time_scale: float, seed: int, projects: int) -> dict[str, Any]:
    """The three runs, one after another."""
    briefs = [f"brief {n}: a 20 s teaser, take {n}" for n in range(projects)]
    kwargs: dict[str, Any] = {"time_scale": time_scale, "seed": seed, "projects": projects}
    runs = [
        await one_run("naive", lambda sim: _naive(sim, briefs, time_scale), **kwargs),
        await one_run(
            "ours, polling", lambda sim: _ours(sim, briefs, time_scale, webhooks=False), **kwargs
        ),
        await one_run(
            "ours, webhooks", lambda sim: _ours(sim, briefs, time_scale, webhooks=True), **kwargs
        ),
    ]
    naive, polling, hooked = runs
    checks = {
        "polling_ratio": polling["ratio"] <= TARGET_POLLING,
        "webhooks_ratio": hooked["ratio"] <= TARGET_WEBHOOKS,
        "zero_429": polling["answers_429"] == 0 and hooked["answers_429"] == 0,
        "requests_not_above_naive": max(
            polling["requests_per_project"], hooked["requests_per_project"]
        )
        <= naive["requests_per_project"],
    }
    return {
        "benchmark": "batch50",
        **stamp(),
        "version": __version__,
        "time_scale": time_scale,
        "seed": seed,
        "naive_intervals": NAIVE_INTERVALS,
        "targets": {"polling": TARGET_POLLING, "webhooks": TARGET_WEBHOOKS},
        "runs": runs,
        "checks": checks,
        "meets_targets": all(checks.values()),
    }


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    rows = "\n".join(
        f"| {r['name']} | {r['makespan']:,.0f} | {r['lower_bound']:,.0f} | **{r['ratio']:.3f}** "
        f"| {r['answers_429']} | {r['requests_per_project']:.1f} | {r['max_window_requests']} "
        f"| {r['max_active_projects']} |"
        for r in result["runs"]
    )
    checks = ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in result["checks"].items())
    save(
        "batch50",
        result,
        f"""# Batch of {result["runs"][0]["projects"]} autonomous briefs through 5 active slots

Contract durations, `time_scale={result["time_scale"]}`, seed {result["seed"]}, each run
against a fresh simulator process; times in contract seconds. Lower bound: the 5-slot
schedule of the run's own realised durations in creation order with zero detection delay.
{result["machine"]["cpus"]} CPUs, Python {result["machine"]["python"]}, {result["when"]}.

| run | makespan s | lower bound s | ratio | 429 answers | requests / project \
| peak window | peak active |
|---|---|---|---|---|---|---|---|
{rows}

Targets: ratio <= {TARGET_POLLING} polling, <= {TARGET_WEBHOOKS} with webhooks, no 429,
requests per project not above naive. {checks}.

Naive: bare aiohttp, semaphore of 5, `asyncio.sleep` of 5 s queued and 30 s otherwise,
429 retried after `Retry-After`.

Reproduce: `python -m benchmarks.batch50 --time-scale {result["time_scale"]} \
--seed {result["seed"]}`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every target is met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch50")
    parser.add_argument("--time-scale", type=float, default=0.005, help="real s per contract s")
    parser.add_argument("--seed", type=int, default=7, help="the simulators' seed")
    parser.add_argument("--projects", type=int, default=50, help="briefs in the batch")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.time_scale, args.seed, args.projects))
    write(result)
    for run in result["runs"]:
        print(
            f"{run['name']:>15}: ratio {run['ratio']:.4f}, 429s {run['answers_429']}, "
            f"requests/project {run['requests_per_project']:.1f}, "
            f"peak window {run['max_window_requests']}, wall {run['wall_seconds']} s"
        )
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
