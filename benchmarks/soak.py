"""Soak: 10,000 projects across 100 accounts, watched for an hour of scaled time.

One simulator in its own process (the contract's 30 requests per sliding 60 s
per account; the active-project limit lifted so each account holds its 100
projects active at once; ``generating`` lasts 1.5-2.5 contract hours, so
every project stays watched to the end). In this process, one
``AsyncVideoAgent`` per account creates its projects and watches every one
through its shared watcher, which paces its polls within the account's
budget. After a warm-up (creation, the first status changes), samples are
taken every few seconds:

* memory: the RSS, and ``tracemalloc``'s live allocations made since the
  warm-up ended (a leak grows them; a flat line is none);
* asyncio tasks and open file descriptors (``/proc/self/fd``), also before
  the clients open and after they close;
* every log record at WARNING or above, every exception the event loop's
  handler sees, every unraisable exception.

    python -m benchmarks.soak [--accounts 100] [--projects 10000] [--duration 3600]
                              [--time-scale 0.04] [--seed 7]

Results: ``benchmarks/results/soak.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import resource
import statistics
import sys
import time
import tracemalloc
from typing import Any

import aiohttp
import anyio

from benchmarks._report import save, stamp
from benchmarks._simproc import control, simulator_process
from videoagent import AsyncVideoAgent, Limits, __version__

#: Long generating: nothing finishes within the soak, so every project stays watched.
DURATIONS = {
    "queued": (5, 60),
    "running": (60, 180),
    "generating": (5400, 9000),
    "rendering": (30, 90),
}
#: Growth of the median of tracemalloc's live memory, middle third to last third.
MAX_LATE_GROWTH = 1024 * 1024
#: Growth of the median RSS, middle third to last third.
MAX_LATE_RSS = 4 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def open_fds() -> int:
    """File descriptors this process holds open."""
    return len(os.listdir("/proc/self/fd"))


class Problems(logging.Handler):
    """Collects log records at WARNING and above, loop exceptions and unraisables."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"log {record.levelname} {record.name}: {record.getMessage()}")

    def loop_exception(self, _: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.seen.append(f"loop: {context.get('message')} {context.get('exception')!r}")

    def unraisable(self, info: Any) -> None:
        self.seen.append(f"unraisable: {info.exc_type.__name__}: {info.exc_value}")


def _show(sample: dict[str, Any]) -> None:
    mib = 2**20
    print(
        f"  t={sample['contract_s']:>5} s  rss {sample['rss'] / mib:6.1f} MiB"
        f"  traced {(sample['traced'] or 0) / mib:6.2f} MiB"
        f"  tasks {sample['tasks']:>4}  fds {sample['fds']:>4}"
        f"  watched {sample['watched']:,}  requests {sample['polls']:,}",
        flush=True,
    )


async def _create_and_watch(client: AsyncVideoAgent, count: int, account: int) -> None:
    watcher = client.watcher

    async def one(n: int) -> None:
        project = await client.projects.create(f"account {account}, clip {n}")
        watcher.watch(project)

    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(one, n)


async def soak(  # noqa: PLR0915, PLR0917 - one run, read top to bottom; the CLI settings
    accounts: int,
    projects: int,
    duration: float,
    time_scale: float,
    seed: int,
    warmup: float,
    request_timeout: float = 30.0,
) -> dict[str, Any]:
    """Run the soak; its figures."""
    problems = Problems()
    logging.getLogger().addHandler(problems)
    asyncio.get_running_loop().set_exception_handler(problems.loop_exception)
    previous_hook, sys.unraisablehook = sys.unraisablehook, problems.unraisable
    per_account = projects // accounts
    samples: list[dict[str, Any]] = []
    try:
        async with simulator_process(
            time_scale=time_scale,
            seed=seed,
            active_limit=None,
            projects_per_day=None,
            log_requests=False,
            durations=DURATIONS,
        ) as sim:
            async with aiohttp.ClientSession() as session:
                keys = [sim.api_key]
                for _ in range(accounts - 1):
                    keys.append(
                        (await control(session, sim, "POST", "accounts", json={}))["api_key"]
                    )
            gc.collect()
            tasks_before, fds_before = len(asyncio.all_tasks()), open_fds()
            started = time.monotonic()
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        AsyncVideoAgent(
                            key,
                            sim.base_url,
                            time_scale=time_scale,
                            limits=Limits(active_projects=None),
                            timeout=request_timeout,
                        )
                    )
                    for key in keys
                ]
                async with anyio.create_task_group() as group:
                    for n, client in enumerate(clients):
                        group.start_soon(_create_and_watch, client, per_account, n)
                created = time.monotonic() - started
                end = started + duration * time_scale
                warm = started + warmup * time_scale
                step = max(1.0, (end - warm) / 40)
                traced = False
                while (now := time.monotonic()) < end:
                    await anyio.sleep(min(step, end - now))
                    now = time.monotonic()
                    if not traced and now >= warm:
                        gc.collect()
                        tracemalloc.start(1)
                        traced = True
                    stats = [c.watcher.statistics() for c in clients]
                    samples.append(
                        {
                            "contract_s": round((now - started) / time_scale),
                            "rss": rss(),
                            "traced": tracemalloc.get_traced_memory()[0] if traced else None,
                            "tasks": len(asyncio.all_tasks()),
                            "fds": open_fds(),
                            "watched": sum(s.watched for s in stats),
                            "polls": sum(s.polls + s.message_fetches for s in stats),
                        }
                    )
                    _show(samples[-1])
                watched_at_end = samples[-1]["watched"] if samples else 0
            tracemalloc.stop()
            await anyio.sleep(0.2)  # let closed transports finish closing
            gc.collect()
            tasks_after, fds_after = len(asyncio.all_tasks()), open_fds()
            async with aiohttp.ClientSession() as session:
                server = await control(session, sim, "GET", "stats")
    finally:
        logging.getLogger().removeHandler(problems)
        sys.unraisablehook = previous_hook
    # the sample taken as tracemalloc starts reads ~0: measure from the one after it
    after_warmup = [s for s in samples if s["traced"] is not None][1:]
    first, last = after_warmup[0], after_warmup[-1]
    traced_growth = last["traced"] - first["traced"]
    rss_growth = last["rss"] - first["rss"]
    third = max(1, len(after_warmup) // 3)
    # a leak keeps growing: compare the last third's median with the middle third's
    late_growth = statistics.median(s["traced"] for s in after_warmup[-third:]) - statistics.median(
        s["traced"] for s in after_warmup[third:-third] or after_warmup
    )
    late_rss = statistics.median(s["rss"] for s in after_warmup[-third:]) - statistics.median(
        s["rss"] for s in after_warmup[third:-third] or after_warmup
    )
    checks = {
        "memory_flat": late_growth <= MAX_LATE_GROWTH and late_rss <= MAX_LATE_RSS,
        "no_task_leak": tasks_after <= tasks_before,
        "no_fd_leak": fds_after <= fds_before,
        "no_problem_logged": not problems.seen,
        "all_watched_to_the_end": watched_at_end == accounts * per_account,
        "limits_held": server["max_window_requests"] <= 30 and server["rate_limited"] == 0,
    }
    return {
        "benchmark": "soak",
        **stamp(),
        "version": __version__,
        "accounts": accounts,
        "projects": accounts * per_account,
        "duration": duration,
        "warmup": warmup,
        "time_scale": time_scale,
        "seed": seed,
        "create_wall_seconds": round(created, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "requests": server["requests"],
        "server": server,
        "tasks": {"before": tasks_before, "after": tasks_after},
        "fds": {"before": fds_before, "after": fds_after},
        "traced_growth": traced_growth,
        "traced_growth_late": late_growth,
        "rss_growth_late": late_rss,
        "timeout": request_timeout,
        "rss_growth": rss_growth,
        "peak_rss": max(s["rss"] for s in samples),
        "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "problems": problems.seen[:20],
        "problem_count": len(problems.seen),
        "samples": samples,
        "checks": checks,
        "meets_targets": all(checks.values()),
    }


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    mib = 2**20
    samples = result["samples"]
    picks = samples[:: max(1, len(samples) // 10)] + ([samples[-1]] if samples else [])
    seen = set()
    rows = []
    for s in picks:
        if s["contract_s"] in seen:
            continue
        seen.add(s["contract_s"])
        traced = "warm-up" if s["traced"] is None else f"{s['traced'] / mib:.2f}"
        rows.append(
            f"| {s['contract_s']:,} | {s['rss'] / mib:.1f} | {traced} | {s['tasks']} "
            f"| {s['fds']} | {s['watched']:,} | {s['polls']:,} |"
        )
    checks = ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in result["checks"].items())
    machine = result["machine"]
    problems = "\n".join(f"- {p}" for p in result["problems"]) or "none"
    save(
        "soak",
        result,
        f"""# Soak: {result["projects"]:,} projects across {result["accounts"]} accounts, \
{result["duration"]:,.0f} contract seconds

One client (and its shared watcher) per account against one simulator process
(30 requests per 60 s per account, active-project limit lifted, generating 1.5-2.5 h),
`time_scale={result["time_scale"]}`, seed {result["seed"]}; warm-up
{result["warmup"]:,.0f} contract seconds (creation took {result["create_wall_seconds"]} s of
wall time), then tracemalloc counts live memory allocated since. {result["requests"]:,}
requests in {result["wall_seconds"]} s of wall time. {machine["cpus"]} CPUs (load average
{machine["load_average"][0]:.2f} at the end: a shared machine), Python {machine["python"]},
{result["when"]}.

| contract s | RSS MiB | traced since warm-up MiB | asyncio tasks | fds | watched | requests |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

After warm-up, first to last sample: live memory {result["traced_growth"] / mib:+.2f} MiB
(tracemalloc), RSS {result["rss_growth"] / mib:+.1f} MiB (connection pools still growing
early on: see the fds). Median of the last third against the middle third (the flatness
check): live memory {result["traced_growth_late"] / mib:+.2f} MiB (limit
{MAX_LATE_GROWTH / mib:g}), RSS {result["rss_growth_late"] / mib:+.1f} MiB (limit
{MAX_LATE_RSS / mib:g}). Tasks {result["tasks"]["before"]} before the clients,
{result["tasks"]["after"]} after they closed; file descriptors {result["fds"]["before"]} before,
{result["fds"]["after"]} after. Server: peak window {result["server"]["max_window_requests"]},
{result["server"]["rate_limited"]} rate-limited answers. Problems logged
({result["problem_count"]}): {problems}

{checks}.

Reproduce: `python -m benchmarks.soak --accounts {result["accounts"]} --projects \
{result["projects"]} --duration {result["duration"]:g} --time-scale {result["time_scale"]} \
--seed {result["seed"]} --timeout {result["timeout"]:g}`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when every check is met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak")
    parser.add_argument("--accounts", type=int, default=100, help="accounts, one client each")
    parser.add_argument("--projects", type=int, default=10_000, help="projects in all")
    parser.add_argument("--duration", type=float, default=3600.0, help="contract seconds")
    parser.add_argument("--warmup", type=float, default=900.0, help="contract seconds")
    parser.add_argument("--time-scale", type=float, default=0.04, help="real s per contract s")
    parser.add_argument("--seed", type=int, default=7, help="the simulator's seed")
    parser.add_argument("--timeout", type=float, default=30.0, help="the clients' timeout, s")
    args = parser.parse_args(argv)
    result = asyncio.run(
        soak(
            args.accounts,
            args.projects,
            args.duration,
            args.time_scale,
            args.seed,
            args.warmup,
            request_timeout=args.timeout,
        )
    )
    write(result)
    print(
        f"{result['projects']:,} projects, {result['requests']:,} requests in "
        f"{result['wall_seconds']} s; traced growth {result['traced_growth'] / 2**20:+.2f} MiB, "
        f"RSS growth {result['rss_growth'] / 2**20:+.1f} MiB; tasks "
        f"{result['tasks']['before']}->{result['tasks']['after']}, fds "
        f"{result['fds']['before']}->{result['fds']['after']}; problems {result['problem_count']}"
    )
    for name, ok in result["checks"].items():
        print(f"  {name}: {'met' if ok else 'NOT met'}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
