"""celery-batch: a 50-brief batch on 3 Celery workers, beside the same batch in one process.

Two runs of the same 50 autonomous briefs, one after the other, each against
a fresh simulator in its own process (same seed, the contract's durations
and limits: 30 requests per sliding minute, 5 active projects), at a small
``time_scale``, each through the ``videoagent batch`` command:

* **local**: ``videoagent batch briefs.txt --out DIR``: one process, the
  limits in it, a SQLite journal;
* **celery**: ``videoagent batch ... --engine celery``, run by 3 real
  ``celery -A videoagent.integrations.celery worker`` processes (prefork, 2
  children each, started and answering before the run) that share the
  account's limits, the broker and the batch's state through one
  ``redis-server``.

The makespan of a run is measured on the simulator's side: from the first
API request of the account to the last. Both runs count 429 answers, the
most requests in one sliding window and the most projects active at once.
The Celery run also reports, per API request, what Redis served: its round
trips (the server's read events: a pipeline, a ``MULTI``/``EXEC`` block or a
blocking pop is one; every client's, the broker's and the submitter's
included), its script calls (``EVALSHA``: one per admission, slot or
heartbeat of the fleet's limits, and per step of the batch's state; the
fleet's writes that wait for a later call ride along in its pipeline, so
several scripts may share a round trip), every command it ran (the commands
inside the scripts included), and the Celery messages published (the
broker's pushes: each a task of a brief's chain).

    python -m benchmarks.celery_batch [--time-scale 0.01] [--seed 7] [--briefs 50]

Results: ``benchmarks/results/celery_batch.json`` and ``.md``. Needs
``redis-server`` (``.ci/install-system.sh`` installs it) and the ``celery``
extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from celery import Celery
from redis import Redis
from redis.exceptions import RedisError

from benchmarks._report import RESULTS, save, stamp
from benchmarks._simproc import SimProcess, control, simulator_process
from videoagent import __version__

WORKERS = 3
CHILDREN = 2
TARGET = 0.05  # the Celery run's makespan within 5% of the local run's
VIDEOAGENT = str(Path(sys.executable).with_name("videoagent"))


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
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(url).ping()
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def celery_workers(env: dict[str, str], logs: Path) -> Iterator[None]:
    """3 real Celery workers, answering a ping before this returns; stopped afterwards."""
    processes = []
    for index in range(WORKERS):
        with (logs / f"worker-{index}.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "videoagent.integrations.celery",
                     "worker", "--concurrency", str(CHILDREN), "--hostname", f"bench{index}@%h",
                     "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
                    env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            )  # fmt: skip
    try:
        app = Celery(broker=env["VIDEOAGENT_REDIS_URL"], set_as_current=False)
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not answer (see {logs})")
        app.close()
        yield
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)


def environment(sim: SimProcess, time_scale: float, redis_url: str | None = None) -> dict[str, str]:
    """The environment of the command (and of the workers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAGENT_")}
    env.update(
        VIDEOAGENT_API_KEY=sim.api_key,
        VIDEOAGENT_BASE_URL=sim.base_url,
        VIDEOAGENT_TIME_SCALE=repr(time_scale),
    )
    if redis_url is not None:
        env.update(
            VIDEOAGENT_REDIS_URL=redis_url,
            VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT="60",
            VIDEOAGENT_CELERY_LEASE="2",
        )
    return env


async def batch(briefs: Path, out: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    """Run ``videoagent batch``; its JSON summary (it must exit 0)."""
    process = await asyncio.create_subprocess_exec(
        VIDEOAGENT, "batch", str(briefs), "--out", str(out), "--json", *extra,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"videoagent batch exited {process.returncode}: {stderr.decode()}")
    summary: dict[str, Any] = json.loads(stdout)
    return summary


async def account_view(sim: SimProcess, time_scale: float) -> dict[str, Any]:
    """Makespan, requests, 429s and the limits' peaks, from the simulator."""
    async with aiohttp.ClientSession() as session:
        log = (await control(session, sim, "GET", "requests"))["data"]
        stats = await control(session, sim, "GET", "stats")
        snapshots = (await control(session, sim, "GET", "projects"))["data"]
    times = [r["at"] for r in log]
    span = (max(times) - min(times)) if times else 0.0
    return {
        "makespan": round(span, 3),
        "makespan_contract": round(span / time_scale, 1),
        "api_requests": len(log),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "max_window_requests": stats["max_window_requests"],
        "max_active_projects": stats["max_active_projects"],
        "projects": len(snapshots),
        "briefs_with_a_project": len({s["brief"] for s in snapshots}),
    }


def briefs_file(folder: Path, count: int) -> Path:
    """``count`` distinct autonomous briefs."""
    path = folder / "briefs.txt"
    path.write_text("".join(f"a 20 s teaser for product {n}, upbeat\n" for n in range(count)))
    return path


async def run_local(briefs: Path, folder: Path, time_scale: float, seed: int) -> dict[str, Any]:
    """One process runs the batch."""
    async with simulator_process(time_scale=time_scale, seed=seed) as sim:
        started = time.perf_counter()
        summary = await batch(briefs, folder / "local", environment(sim, time_scale))
        wall = time.perf_counter() - started
        view = await account_view(sim, time_scale)
    return {**view, "wall_time": round(wall, 2), "done": summary["counts"]["done"]}


def redis_counts(redis: Redis) -> dict[str, int]:
    """Round trips (read events) and commands the Redis server processed since its last
    reset, in all and by kind."""
    stats: dict[str, Any] = redis.info("commandstats")  # type: ignore[assignment]
    calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    reads: dict[str, Any] = redis.info("stats")  # type: ignore[assignment]
    return {
        "round_trips": int(reads["total_reads_processed"]),
        "commands": sum(calls.values()),
        "scripts": calls.get("evalsha", 0) + calls.get("eval", 0),
        "pushes": calls.get("lpush", 0),
    }


async def run_celery(briefs: Path, folder: Path, time_scale: float, seed: int) -> dict[str, Any]:
    """3 Celery workers run the batch, sharing the limits and the state through Redis."""
    logs = folder / "logs"
    logs.mkdir()
    async with simulator_process(time_scale=time_scale, seed=seed) as sim:
        with redis_server() as redis_url:
            env = environment(sim, time_scale, redis_url)
            redis = Redis.from_url(redis_url, decode_responses=True)
            with celery_workers(env, logs):
                redis.config_resetstat()
                started = time.perf_counter()
                summary = await batch(briefs, folder / "celery", env, "--engine", "celery")
                wall = time.perf_counter() - started
                counts = redis_counts(redis)
            redis.close()
        view = await account_view(sim, time_scale)
    requests = max(1, view["api_requests"])
    return {
        **view,
        "wall_time": round(wall, 2),
        "done": summary["counts"]["done"],
        "redis_round_trips": counts["round_trips"],
        "redis_round_trips_per_request": round(counts["round_trips"] / requests, 2),
        "redis_commands": counts["commands"],
        "redis_commands_per_request": round(counts["commands"] / requests, 2),
        "redis_scripts_per_request": round(counts["scripts"] / requests, 2),
        "celery_messages": counts["pushes"],
        "celery_messages_per_request": round(counts["pushes"] / requests, 2),
    }


async def measure(time_scale: float, seed: int, count: int) -> dict[str, Any]:
    """The local run, then the Celery run, same briefs and seed."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        briefs = briefs_file(folder, count)
        local = await run_local(briefs, folder, time_scale, seed)
        celery = await run_celery(briefs, folder, time_scale, seed)
    ratio = celery["makespan"] / local["makespan"] - 1.0
    checks = {
        "makespan_within_target": ratio <= TARGET,
        "every_brief_done": local["done"] == celery["done"] == count,
        "one_project_per_brief": all(
            run["projects"] == run["briefs_with_a_project"] == count for run in (local, celery)
        ),
        "zero_429": local["answers_429"] == celery["answers_429"] == 0,
        "limits_held": all(
            run["max_window_requests"] <= 30 and run["max_active_projects"] <= 5
            for run in (local, celery)
        ),
    }
    return {
        "benchmark": "celery-batch",
        **stamp(),
        "version": __version__,
        "time_scale": time_scale,
        "seed": seed,
        "briefs": count,
        "workers": WORKERS,
        "children_per_worker": CHILDREN,
        "local": local,
        "celery": celery,
        "makespan_ratio": round(ratio, 4),
        "target": TARGET,
        "checks": checks,
        "passed": all(checks.values()),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    local, celery = report["local"], report["celery"]
    machine = report["machine"]
    lines = [
        f"# celery-batch: {report['briefs']} briefs on {report['workers']} Celery workers "
        "beside one local process",
        "",
        f"{report['when']}, Python {machine['python']}, {machine['cpus']} CPUs; the contract's "
        f"durations and limits at time scale {report['time_scale']}, seed {report['seed']}, a "
        "fresh simulator in a child process for each run; both through `videoagent batch`.",
        "",
        "| run | makespan (s) | makespan (contract min) | done | API requests | 429s "
        "| most requests in a window | most active |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = (
        ("1 local process", local),
        (f"{report['workers']} Celery workers x {report['children_per_worker']}", celery),
    )
    for name, run in runs:
        lines.append(
            f"| {name} | {run['makespan']:.2f} | {run['makespan_contract'] / 60:.1f} "
            f"| {run['done']} | {run['api_requests']} | {run['answers_429']} "
            f"| {run['max_window_requests']} | {run['max_active_projects']} |"
        )
    verdict = "meets" if report["passed"] else "misses"
    lines += [
        "",
        f"Celery makespan vs local: **{report['makespan_ratio']:+.1%}** ({verdict} the within "
        f"{report['target']:.0%} target; checks: "
        + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in report["checks"].items())
        + ").",
        "",
        f"Per API request, the Celery run cost {celery['redis_round_trips_per_request']} "
        f"Redis round trips ({celery['redis_round_trips']}: every client's, the broker's "
        f"included), {celery['redis_scripts_per_request']} Redis script calls (the fleet's "
        "limits and the batch's state; the fleet's deferred writes ride along in a later "
        f"call's pipeline), {celery['redis_commands_per_request']} Redis commands in all "
        f"({celery['redis_commands']}: the broker's polling and the commands inside the "
        f"scripts included) and {celery['celery_messages_per_request']} Celery messages "
        f"({celery['celery_messages']} published).",
        "",
        f"Reproduce: `python -m benchmarks.celery_batch --time-scale {report['time_scale']} "
        f"--seed {report['seed']} --briefs {report['briefs']}`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write JSON and Markdown; exit 1 if a check fails."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.celery_batch")
    parser.add_argument("--time-scale", type=float, default=0.01, help="real s per contract s")
    parser.add_argument("--seed", type=int, default=7, help="the simulators' seed")
    parser.add_argument("--briefs", type=int, default=50, help="briefs in the batch")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.time_scale, args.seed, args.briefs))
    table = markdown(report)
    save("celery_batch", report, table, args.out)
    print(table)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
