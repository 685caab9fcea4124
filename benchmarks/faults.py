"""A 50-brief batch through the issue's fault mix, beside the same batch without faults.

Two runs, one after another, each against a fresh simulator in its own process
(same seed, the contract's durations and limits, at a small ``time_scale``),
each with ``videoagent.batch.run_batch`` on one client (``max_retries=10``):

* **fault-free**: no injected faults;
* **faults**: every ``/v1`` request draws one fault: 10% answered 500, 10%
  answered 503 (``Retry-After: 2``), 5% dropped after taking effect, 5% slow
  (answered 60 s later, past the client's 30 s timeout), 2.5% truncated and
  2.5% an HTML page instead of JSON: 35% of requests in all.

Every fifth brief is collaborative (one or two decision points answered by
message), so non-idempotent requests meet the faults too. Checked per run:
every brief done and its file's size and sha256 those of the result; one
project per brief on the server (its project list, by idempotency key); no
sliding window over 30 requests, never over 5 active projects, no 429.
Requests come from the simulator's request log (every ``/v1`` request).

    python -m benchmarks.faults [--time-scale 0.005] [--seed 7] [--briefs 50]

Results: ``benchmarks/results/faults.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from benchmarks._report import save, stamp
from benchmarks._simproc import control, simulator_process
from videoagent import AsyncVideoAgent, __version__
from videoagent.batch import run_batch
from videoagent.simulator import Faults

#: The issue's mix: 20% 500/503, 5% dropped, 5% slow past the timeout, 5% garbled.
MIX = Faults(error_500=0.10, error_503=0.10, drop=0.05, slow=0.05, truncate=0.025, non_json=0.025)
MAX_RETRIES = 10


def _verified(done: list[Any]) -> int:
    """How many done outcomes have a file of their recorded size and sha256."""
    count = 0
    for outcome in done:
        data = Path(outcome.path).read_bytes()
        count += (len(data), hashlib.sha256(data).hexdigest()) == (outcome.size, outcome.sha256)
    return count


def _around_429(log: list[dict[str, Any]], time_scale: float) -> list[str]:
    """The 12 requests up to the first 429 (contract seconds before it), to diagnose it."""
    first = next((n for n, r in enumerate(log) if r["status"] == 429), None)
    if first is None:
        return []
    at = log[first]["at"]
    return [
        f"{(r['at'] - at) / time_scale:+.2f} s {r['method']} {r['path']} -> {r['status']} "
        f"{r['code'] or ''} {r['fault'] or ''}".rstrip()
        for r in log[max(0, first - 11) : first + 1]
    ]


async def one_run(
    name: str, faults: Faults | None, *, time_scale: float, seed: int, briefs: int
) -> dict[str, Any]:
    """One batch against a fresh simulator process; its figures."""
    inputs = [
        {"brief": f"brief {n}: a 20 s teaser, take {n}"}
        | ({"mode": "collaborative"} if n % 5 == 0 else {})
        for n in range(briefs)
    ]
    async with simulator_process(time_scale=time_scale, seed=seed) as sim:
        async with aiohttp.ClientSession() as session:
            if faults is not None:
                await control(session, sim, "PUT", "faults", json=attrs.asdict(faults))
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            async with AsyncVideoAgent(
                sim.api_key, sim.base_url, time_scale=time_scale, max_retries=MAX_RETRIES
            ) as client:
                summary = await run_batch(inputs, out=out, client=client)
            wall = time.monotonic() - started
            verified = await asyncio.to_thread(_verified, list(summary.done))
        async with aiohttp.ClientSession() as session:
            stats = await control(session, sim, "GET", "stats")
            snapshots = (await control(session, sim, "GET", "projects"))["data"]
            log = (await control(session, sim, "GET", "requests"))["data"]
    keys = Counter(s["idempotency_key"] for s in snapshots)
    faulted = Counter(r["fault"] for r in log if r["fault"])
    return {
        "name": name,
        "briefs": briefs,
        "done": len(summary.done),
        "failed": len(summary.failed),
        "pending": len(summary.pending),
        "verified": verified,
        "projects": len(snapshots),
        "duplicate_projects": sum(n - 1 for n in keys.values()),
        "requests": len(log),
        "requests_per_brief": round(len(log) / briefs, 2),
        "faults": sum(faulted.values()),
        "faults_by_kind": dict(sorted(faulted.items())),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "answers_429_by_code": dict(Counter(r["code"] for r in log if r["status"] == 429)),
        "around_429": _around_429(log, time_scale),
        "max_window_requests": stats["max_window_requests"],
        "max_active_projects": stats["max_active_projects"],
        "makespan": round(wall / time_scale, 1),
        "wall_seconds": round(wall, 1),
    }


async def measure(time_scale: float, seed: int, briefs: int) -> dict[str, Any]:
    """The fault-free run, then the faulty one."""
    kwargs = {"time_scale": time_scale, "seed": seed, "briefs": briefs}
    clean = await one_run("fault-free", None, **kwargs)  # type: ignore[arg-type]
    faulty = await one_run("faults", MIX, **kwargs)  # type: ignore[arg-type]
    checks = {
        "all_done_and_verified": all(
            r["done"] == r["verified"] == briefs and not r["failed"] for r in (clean, faulty)
        ),
        "no_duplicate_project": all(
            r["projects"] == briefs and r["duplicate_projects"] == 0 for r in (clean, faulty)
        ),
        "no_limit_broken": all(
            r["max_window_requests"] <= 30 and r["max_active_projects"] <= 5
            for r in (clean, faulty)
        ),
        "no_429": clean["answers_429"] == 0 and faulty["answers_429"] == 0,
    }
    return {
        "benchmark": "faults",
        **stamp(),
        "version": __version__,
        "time_scale": time_scale,
        "seed": seed,
        "max_retries": MAX_RETRIES,
        "fault_mix": {k: v for k, v in attrs.asdict(MIX).items() if v},
        "runs": [clean, faulty],
        "request_ratio": round(faulty["requests"] / clean["requests"], 3),
        "checks": checks,
        "meets_targets": all(checks.values()),
    }


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    rows = "\n".join(
        f"| {r['name']} | {r['done']}/{r['briefs']} | {r['verified']} | {r['projects']} "
        f"| {r['duplicate_projects']} | {r['requests']:,} | {r['requests_per_brief']:.1f} "
        f"| {r['faults']} | {r['answers_429']} | {r['max_window_requests']} "
        f"| {r['max_active_projects']} | {r['makespan']:,.0f} |"
        for r in result["runs"]
    )
    kinds = ", ".join(f"{k} {v}" for k, v in result["runs"][1]["faults_by_kind"].items())
    checks = ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in result["checks"].items())
    mix = ", ".join(f"{k} {v:g}" for k, v in result["fault_mix"].items())
    machine = result["machine"]
    save(
        "faults",
        result,
        f"""# A {result["runs"][0]["briefs"]}-brief batch through faults, beside a fault-free run

`run_batch` on one client (`max_retries={result["max_retries"]}`), contract durations and
limits, `time_scale={result["time_scale"]}`, seed {result["seed"]}, each run against a fresh
simulator process; every fifth brief collaborative. Fault mix per `/v1` request: {mix}
(retry_after 2 s, slow answers 60 s against the client's 30 s timeout).
{machine["cpus"]} CPUs (load average {machine["load_average"][0]:.2f} at the end: a shared
machine), Python {machine["python"]}, {result["when"]}.

| run | done | verified | projects | duplicates | requests | per brief | faults \
| 429 | peak window | peak active | makespan s |
|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

Requests with faults / without: **{result["request_ratio"]:.2f}x**. Faults injected: {kinds}.
{checks}.

Reproduce: `python -m benchmarks.faults --time-scale {result["time_scale"]} \
--seed {result["seed"]}`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every check is met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults")
    parser.add_argument("--time-scale", type=float, default=0.005, help="real s per contract s")
    parser.add_argument("--seed", type=int, default=7, help="the simulators' seed")
    parser.add_argument("--briefs", type=int, default=50, help="briefs in the batch")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.time_scale, args.seed, args.briefs))
    write(result)
    for run in result["runs"]:
        print(
            f"{run['name']:>10}: {run['done']}/{run['briefs']} done, {run['verified']} verified, "
            f"{run['projects']} projects, {run['requests']:,} requests, {run['faults']} faults, "
            f"429s {run['answers_429']}, peak window {run['max_window_requests']}, "
            f"peak active {run['max_active_projects']}, wall {run['wall_seconds']} s"
        )
    print(f"requests with faults / without: {result['request_ratio']:.2f}x")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
