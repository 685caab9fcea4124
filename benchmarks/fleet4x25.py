"""fleet-4x25: 4 worker processes x 25 briefs on one account, beside 1 process x 100.

Two runs of the same 100 autonomous briefs, one after the other, each against
a fresh simulator in its own process (same seed, the contract's durations
and limits: 30 requests per sliding minute, 5 active projects), at a small
``time_scale``:

* **single**: one process runs all 100 briefs (``BatchRunner``, limits in
  process, no Redis);
* **fleet**: 4 processes (``python -m videoagent.fleet``), each with its own
  25 briefs and batch id, share the account's limits through one
  ``redis-server`` (``RedisBackend``).

The makespan of a run is measured on the simulator's side: from the first
request of the account to the last. Both runs count 429 answers and the
most requests seen in one sliding window and projects active at once; the
fleet run also reports its Redis round trips per API request (admissions,
releases, heartbeats, claims and shared answers, summed over the workers).

    python -m benchmarks.fleet4x25 [--time-scale 0.004] [--seed 7]

Results: ``benchmarks/results/fleet4x25.json`` and ``.md``. Needs
``redis-server`` on the PATH (``.ci/install-system.sh`` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._report import RESULTS, save
from benchmarks._simproc import SimProcess, control, simulator_process
from videoagent import __version__
from videoagent.batch import BatchRunner, counted_client

WORKERS = 4
PER_WORKER = 25
TARGET = 0.10  # the fleet's makespan within 10% of the single process's
LEASE = 2.0


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` without persistence on a free loopback port; its URL."""
    program = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def briefs(count: int) -> list[str]:
    """``count`` distinct briefs."""
    return [f"a 20 s teaser for product {i}, upbeat" for i in range(count)]


@contextlib.asynccontextmanager
async def simulator(time_scale: float, seed: int) -> AsyncIterator[SimProcess]:
    """A fresh simulator in a child process: the contract's durations and limits."""
    async with simulator_process(time_scale=time_scale, seed=seed) as sim:
        yield sim


async def account_view(sim: SimProcess, time_scale: float) -> dict[str, Any]:
    """Makespan, 429s and the limits' peaks, from the simulator's request log."""
    async with aiohttp.ClientSession() as session:
        log = (await control(session, sim, "GET", "requests"))["data"]
        stats = await control(session, sim, "GET", "stats")
        snapshots = (await control(session, sim, "GET", "projects"))["data"]
    times = [r["at"] for r in log]
    return {
        "makespan": (max(times) - min(times)) if times else 0.0,
        "makespan_contract": ((max(times) - min(times)) / time_scale) if times else 0.0,
        "api_requests": len(log),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "max_window_requests": stats["max_window_requests"],
        "max_active_projects": stats["max_active_projects"],
        "projects": len(snapshots),
        "briefs_with_a_project": len({s["brief"] for s in snapshots}),
    }


async def run_single(time_scale: float, seed: int, folder: Path) -> dict[str, Any]:
    """One process, 100 briefs, limits in process."""
    async with simulator(time_scale, seed) as sim:
        started = time.perf_counter()
        async with counted_client(sim.api_key, sim.base_url, time_scale=time_scale) as (client, _):
            runner = BatchRunner(client, out=folder / "single", journal=False)
            summary = await runner.run(briefs(WORKERS * PER_WORKER))
        wall = time.perf_counter() - started
        view = await account_view(sim, time_scale)
    return {**view, "wall_time": wall, "done": len(summary.done), "failed": len(summary.failed)}


async def run_fleet(time_scale: float, seed: int, folder: Path, redis_url: str) -> dict[str, Any]:
    """4 processes x 25 briefs sharing the account through Redis."""
    texts = briefs(WORKERS * PER_WORKER)
    async with simulator(time_scale, seed) as sim:
        env = {**os.environ, "VIDEOAGENT_API_KEY": sim.api_key, "VIDEOAGENT_BASE_URL": sim.base_url}
        env.pop("VIDEOAGENT_REDIS_URL", None)
        started = time.perf_counter()
        processes = []
        for worker in range(WORKERS):
            work = folder / f"worker-{worker}"
            work.mkdir(parents=True)
            mine = texts[worker * PER_WORKER : (worker + 1) * PER_WORKER]
            (work / "briefs.txt").write_text("".join(f"{text}\n" for text in mine))
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "videoagent.fleet",
                    str(work / "briefs.txt"),
                    "--out",
                    str(work / "out"),
                    "--batch-id",
                    f"fleet4x25-{worker}",
                    "--redis-url",
                    redis_url,
                    "--lease",
                    str(LEASE),
                    "--time-scale",
                    str(time_scale),
                    "--journal",
                    str(work / "journal.sqlite"),
                    env=env,
                    stdout=subprocess.PIPE,
                )
            )
        outputs = [await process.communicate() for process in processes]
        wall = time.perf_counter() - started
        view = await account_view(sim, time_scale)
    summaries = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    round_trips = sum(s["fleet"]["round_trips"] for s in summaries)
    return {
        **view,
        "wall_time": wall,
        "done": sum(s["counts"]["done"] for s in summaries),
        "failed": sum(s["counts"]["failed"] for s in summaries),
        "exit_codes": [p.returncode for p in processes],
        "redis_round_trips": round_trips,
        "round_trips_per_request": round_trips / max(1, view["api_requests"]),
        "per_worker": [
            {"done": s["counts"]["done"], "requests": s["requests"], **s["fleet"]}
            for s in summaries
        ],
    }


async def measure(time_scale: float, seed: int) -> dict[str, Any]:
    """The single run, then the fleet run, same seed."""
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        single = await run_single(time_scale, seed, Path(tmp))
        fleet = await run_fleet(time_scale, seed, Path(tmp), redis_url)
    ratio = fleet["makespan"] / single["makespan"] - 1.0
    total = WORKERS * PER_WORKER
    passed = (
        ratio <= TARGET
        and fleet["answers_429"] == 0
        and fleet["done"] == single["done"] == total
        and fleet["max_window_requests"] <= 30
        and fleet["max_active_projects"] <= 5
        and fleet["briefs_with_a_project"] == fleet["projects"] == total
    )
    return {
        "benchmark": "fleet-4x25",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "videoagent": __version__,
        "cpus": os.cpu_count(),
        "time_scale": time_scale,
        "seed": seed,
        "workers": WORKERS,
        "briefs_per_worker": PER_WORKER,
        "lease": LEASE,
        "single": single,
        "fleet": fleet,
        "makespan_ratio": ratio,
        "target": TARGET,
        "passed": passed,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    single, fleet = report["single"], report["fleet"]
    lines = [
        "# fleet-4x25: 4 processes x 25 briefs on one account, through Redis",
        "",
        f"{report['when']}, Python {report['python']}, {report['cpus']} CPUs; the contract's "
        f"durations and limits at time scale {report['time_scale']}, seed {report['seed']}, "
        f"a fresh simulator in a child process for each run; lease {report['lease']} s.",
        "",
        "| run | makespan (s) | makespan (contract min) | done | API requests | 429s "
        "| most requests in a window | most active | Redis round trips / request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = (("1 process x 100 (in-process limits)", single), ("4 processes x 25 (Redis)", fleet))
    for name, run in runs:
        per = run.get("round_trips_per_request")
        lines.append(
            f"| {name} | {run['makespan']:.2f} | {run['makespan_contract'] / 60:.1f} "
            f"| {run['done']} | {run['api_requests']} | {run['answers_429']} "
            f"| {run['max_window_requests']} | {run['max_active_projects']} "
            f"| {'-' if per is None else f'{per:.2f}'} |"
        )
    verdict = "meets" if report["passed"] else "misses"
    lines += [
        "",
        f"Fleet makespan vs single process: **{report['makespan_ratio']:+.1%}** ({verdict} the "
        f"within {report['target']:.0%} target, zero 429s, limits held). Redis round trips: "
        f"{fleet['redis_round_trips']} for {fleet['api_requests']} API requests "
        f"({fleet['round_trips_per_request']:.2f} each: an admission, with the queued "
        "releases and shared answers riding along; slot asks, heartbeats and claims).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write JSON and Markdown; exit 1 over the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.004)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.time_scale, args.seed))
    table = markdown(report)
    save("fleet4x25", report, table, args.out)
    print(table)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
