"""10,000 active projects watched at once: memory per project and CPU per poll.

A backend holding many users' keys: 2,000 simulator accounts with 5 active
projects each, one ``AsyncVideoAgent`` per account, all sharing one
``aiohttp.ClientSession`` (``session=``), and **one** ``ProjectWatcher``
serving all 2,000 clients (``watch(id, client=...)``: one heap, one
scheduler task, a lane per client budget). The simulator runs in another
process at ``time_scale=1`` with phases long enough that every project stays
``running`` (polled every 30 s) for the whole run.

Three phases in one run:

1. **memory** (tracemalloc on): traced memory with the 2,000 clients and
   the empty watcher, then the peak while all 10,000 projects are watched
   and polled (the first poll of every project, then steady polling); the
   difference divided by 10,000 is the memory per watched project;
2. **watcher CPU** (tracemalloc off): this process's CPU time over a 30 s
   window of steady polling (one poll of every project), divided by the
   watcher's polls in it;
3. **plain CPU**: the watcher closed, ``client.projects.get`` of the same
   projects replayed at the instants the watcher's answers arrived (same
   bursts, same gaps), through the same clients and session, a task per
   request: CPU per request.

The scheduler's cost per poll is (2) minus (3): heap, lanes, budget tickets,
planning and events, beyond the HTTP request itself.

    python -m benchmarks.fanout [--accounts 2000] [--per-account 5] [--seconds 30]

Results: ``benchmarks/results/fanout.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel

from benchmarks._report import save, stamp
from benchmarks._simproc import SimProcess, control, simulator_process
from videoagent import AsyncVideoAgent, Project, ProjectStatus, ProjectWatcher, __version__
from videoagent._seams import Ticket
from videoagent._wiring import wiring_of

TARGET_BYTES = 2048
TARGET_US = 50.0
#: the memory phase: every project's first poll (they all come at once) and its answer
MEMORY_SECONDS = 10.0
#: every project is running for the whole run: polled every 30 contract seconds
DURATIONS = {
    "queued": (1.0, 1.0),
    "running": (1e6, 1e6),
    "generating": (1e6, 1e6),
    "rendering": (1e6, 1e6),
}


async def _bulk(n: int, concurrency: int, one: Any) -> list[Any]:
    """``one(i)`` for i in range(n), at most ``concurrency`` at once, results in order."""
    results: list[Any] = [None] * n
    limiter = anyio.CapacityLimiter(concurrency)

    async def run(i: int) -> None:
        async with limiter:
            results[i] = await one(i)

    async with anyio.create_task_group() as group:
        for i in range(n):
            group.start_soon(run, i)
    return results


async def _setup(
    session: aiohttp.ClientSession, sim: SimProcess, accounts: int, per_account: int
) -> tuple[list[str], list[list[str]]]:
    """The accounts' keys and, per account, its project ids (created with bare HTTP)."""

    async def account(i: int) -> str:
        if i == 0:
            return sim.api_key
        key: str = (await control(session, sim, "POST", "accounts", json={}))["api_key"]
        return key

    keys = await _bulk(accounts, 32, account)

    async def create(i: int) -> str:
        headers = {"Authorization": f"Bearer {keys[i // per_account]}"}
        body = {"brief": f"fan-out {i}", "idempotency_key": f"fanout-{i}"}
        url = sim.base_url + "/projects"
        async with session.post(url, json=body, headers=headers) as answer:
            answer.raise_for_status()
            project_id: str = (await answer.json())["id"]
            return project_id

    ids = await _bulk(accounts * per_account, 64, create)
    return keys, [ids[i * per_account : (i + 1) * per_account] for i in range(accounts)]


async def measure(accounts: int, per_account: int, seconds: float) -> dict[str, Any]:
    """Run the three phases; the report as a JSON-ready dict."""
    projects = accounts * per_account
    settings = {"time_scale": 1.0, "seed": 1, "durations": DURATIONS, "log_requests": False}
    async with simulator_process(**settings) as sim:
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as session:
            keys, ids = await _setup(session, sim, accounts, per_account)
            gc.collect()
            tracemalloc.start()
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        AsyncVideoAgent(key, sim.base_url, session=session)
                    )
                    for key in keys
                ]
                watcher_cm = ProjectWatcher(clients[0])
                watcher = await watcher_cm.__aenter__()
                recorder = _Recorder(clients)
                gc_clock = _GcClock()
                try:
                    gc.collect()
                    empty = tracemalloc.get_traced_memory()[0]
                    tracemalloc.reset_peak()
                    for client, project_ids in zip(clients, ids, strict=True):
                        for project_id in project_ids:
                            watcher.watch(project_id, client=client)
                    watched = tracemalloc.get_traced_memory()[0]
                    await anyio.sleep(MEMORY_SECONDS)  # every first poll (all at once)
                    polls_traced = watcher.statistics().polls
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()

                    # Polls repeat every 30 s: any 30 s window holds one of each project.
                    polls0 = watcher.statistics().polls
                    recorder.start()
                    gc0 = gc_clock.reading()
                    cpu0, wall0 = time.process_time(), time.monotonic()
                    await anyio.sleep(seconds)
                    polls = watcher.statistics().polls - polls0
                    watcher_cpu = time.process_time() - cpu0
                    watcher_wall = time.monotonic() - wall0
                    watcher_gc = _gc_delta(gc0, gc_clock.reading())
                    schedule = recorder.stop()
                    stats = watcher.statistics()
                finally:
                    await watcher_cm.__aexit__(None, None, None)
                gc0 = gc_clock.reading()
                plain_cpu, plain_requests = await _replay(schedule)
                plain_gc = _gc_delta(gc0, gc_clock.reading())
            alone = await _scheduler_alone(sim, keys, ids, session)
            sim_stats = await control(session, sim, "GET", "stats")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_project = (peak - empty) / projects
    watcher_us = watcher_cpu / polls * 1e6
    plain_us = plain_cpu / plain_requests * 1e6
    return {
        "benchmark": "fanout",
        **stamp(),
        "version": __version__,
        "accounts": accounts,
        "projects": projects,
        "memory": {
            "method": "tracemalloc (Python allocations of this process)",
            "empty_watcher_bytes": empty,
            "after_watch_bytes": watched,
            "peak_bytes": peak,
            "polls_while_traced": polls_traced,
            "bytes_per_project_static": round((watched - empty) / projects),
            "bytes_per_project_peak": round(per_project),
            "max_rss_kib": rss_kib,
        },
        "cpu": {
            "window_seconds": round(watcher_wall, 1),
            "watcher_polls": polls,
            "watcher_polls_per_second": round(polls / watcher_wall),
            "watcher_us_per_poll": round(watcher_us, 1),
            "plain_requests": plain_requests,
            "plain_us_per_get": round(plain_us, 1),
            "scheduler_us_per_poll": round(watcher_us - plain_us, 1),
            "scheduler_alone": alone,
            "gc_watcher_window": watcher_gc,
            "gc_plain_window": plain_gc,
        },
        "watcher_at_end": {"watched": stats.watched, "polling": stats.polling},
        "simulator": {
            "rate_limited": sim_stats["rate_limited"],
            "max_window_requests": sim_stats["max_window_requests"],
            "max_active_projects": sim_stats["max_active_projects"],
        },
        "targets": {"bytes_per_project": TARGET_BYTES, "scheduler_us_per_poll": TARGET_US},
        "meets_targets": per_project <= TARGET_BYTES and watcher_us - plain_us <= TARGET_US,
    }


class _GcClock:
    """Seconds the cyclic garbage collector ran (and collections of each generation)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections[info["generation"]] += 1

    def reading(self) -> tuple[float, list[int]]:
        return self.seconds, list(self.collections)


def _gc_delta(before: tuple[float, list[int]], after: tuple[float, list[int]]) -> dict[str, Any]:
    return {
        "seconds": round(after[0] - before[0], 3),
        "collections": [b - a for a, b in zip(before[1], after[1], strict=True)],
    }


class _Recorder:
    """Notes when (and of which client) each Project answer arrives, between start and stop."""

    def __init__(self, clients: list[AsyncVideoAgent]) -> None:
        self._clients = clients
        self._started = 0.0
        self._on = False
        self.schedule: list[tuple[float, AsyncVideoAgent, str]] = []
        for client in clients:  # the same listener in both phases: its cost cancels out
            wiring_of(client).ledger.projects.subscribe(self._listener(client))

    def _listener(self, client: AsyncVideoAgent) -> Any:
        def record(project: Any) -> None:
            if self._on:
                self.schedule.append((time.monotonic() - self._started, client, project.id))

        return record

    def start(self) -> None:
        self._started, self._on = time.monotonic(), True

    def stop(self) -> list[tuple[float, AsyncVideoAgent, str]]:
        self._on = False
        return self.schedule


async def _replay(schedule: list[tuple[float, AsyncVideoAgent, str]]) -> tuple[float, int]:
    """``client.projects.get`` of the watcher's polls, at the times they were answered.

    The same projects through the same clients, with the same bursts and gaps:
    only the scheduler is missing. Returns CPU seconds and requests.
    """
    done = 0

    async def get(client: AsyncVideoAgent, project_id: str) -> None:
        nonlocal done
        await client.projects.get(project_id)
        done += 1

    await anyio.sleep(2)  # let the watcher's last answers land
    cpu0, started = time.process_time(), time.monotonic()
    async with anyio.create_task_group() as group:
        for at, client, project_id in schedule:
            delay = started + at - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            group.start_soon(get, client, project_id)
    return time.process_time() - cpu0, done


async def _scheduler_alone(
    sim: SimProcess, keys: list[str], ids: list[list[str]], session: aiohttp.ClientSession
) -> dict[str, float]:
    """The watcher's own CPU per poll: the same 10,000 projects, with no HTTP at all.

    Clients at ``time_scale=0.1`` (polls every 3 s) whose ``projects._get`` is a
    stub doing what a request does besides HTTP (release the budget ticket,
    pass the Project to the listeners); what remains is heap, lanes, budget,
    workers, planning: the scheduler. A stricter number than the difference of
    two noisy end-to-end measurements (it also counts the stub).
    """
    now = datetime.now(timezone.utc)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncVideoAgent(key, sim.base_url, session=session, time_scale=0.1)
            )
            for key in keys
        ]
        for client, project_ids in zip(clients, ids, strict=True):
            _stub(client, project_ids, now)
        async with ProjectWatcher(clients[0]) as watcher:
            for client, project_ids in zip(clients, ids, strict=True):
                for project_id in project_ids:
                    watcher.watch(project_id, client=client)
            await anyio.sleep(4)  # first polls, then steady every 3 s
            polls0, cpu0 = watcher.statistics().polls, time.process_time()
            await anyio.sleep(9)
            polls = watcher.statistics().polls - polls0
            cpu = time.process_time() - cpu0
    return {"polls": polls, "us_per_poll": round(cpu / polls * 1e6, 1)}


def _stub(client: AsyncVideoAgent, project_ids: list[str], now: datetime) -> None:
    wiring = wiring_of(client)
    answers = {
        pid: Project(
            id=pid,
            status=ProjectStatus.RUNNING,
            mode="autonomous",
            brief="fan-out",
            created_at=now,
            updated_at=now,
        )
        for pid in project_ids
    }

    async def get(project_id: str, *, via: object = None) -> Any:
        await anyio.lowlevel.checkpoint()
        if isinstance(via, Ticket):
            wiring.budget.release(via)
        project = answers[project_id]
        wiring.ledger.observe(project)
        return project

    wiring.poller.get = get  # type: ignore[method-assign]


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    memory, cpu = result["memory"], result["cpu"]
    save(
        "fanout",
        result,
        f"""# Fan-out: {result["projects"]:,} active projects, one watcher, \
{result["accounts"]:,} clients

One `ProjectWatcher` serving {result["accounts"]:,} `AsyncVideoAgent`s (one per account, one
shared aiohttp session); the simulator in another process, every project `running`
(30 s polls). {result["machine"]["cpus"]} CPUs, Python {result["machine"]["python"]},
{result["when"]}.

| measure | value | target |
|---|---|---|
| memory per watched project, peak above the empty watcher (tracemalloc) \
| {memory["bytes_per_project_peak"]:,} B | <= {TARGET_BYTES:,} B |
| memory per watched project, right after `watch` (tracemalloc) \
| {memory["bytes_per_project_static"]:,} B | |
| CPU per poll through the watcher | {cpu["watcher_us_per_poll"]} µs | |
| CPU per plain `client.projects.get`, same schedule replayed | {cpu["plain_us_per_get"]} µs | |
| **scheduler CPU per poll beyond the request** | **{cpu["scheduler_us_per_poll"]} µs** \
| <= {TARGET_US:.0f} µs |
| the watcher's own CPU per poll, no HTTP (stubbed `_get`, \
{cpu["scheduler_alone"]["polls"]:,} polls) | {cpu["scheduler_alone"]["us_per_poll"]} µs | |
| polls per second (steady window of {cpu["window_seconds"]} s) \
| {cpu["watcher_polls_per_second"]:,} | |
| 429 answers (simulator) | {result["simulator"]["rate_limited"]} | 0 |
| peak requests in one account's window | {result["simulator"]["max_window_requests"]} | <= 30 |

Max RSS of the process: {memory["max_rss_kib"]:,} KiB.
{"Targets met." if result["meets_targets"] else "Targets NOT met."}

Reproduce: `python -m benchmarks.fanout`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the targets are met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout")
    parser.add_argument("--accounts", type=int, default=2000, help="simulator accounts")
    parser.add_argument("--per-account", type=int, default=5, help="active projects each")
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="the CPU window (a multiple of 30)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.accounts, args.per_account, args.seconds))
    write(result)
    print(json.dumps({"memory": result["memory"], "cpu": result["cpu"]}, indent=2))
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
