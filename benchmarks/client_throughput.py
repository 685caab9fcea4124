"""GET requests per second through ``AsyncVideoAgent`` vs. a bare aiohttp loop.

The simulator runs in another process (request limit off, no request log). In
the same run, at the same concurrency, against the same project:

* **bare**: the idiomatic ``aiohttp.ClientSession`` loop doing
  ``GET /projects/{id}`` with the auth header, ``raise_for_status()`` and
  ``await resp.json()``;
* **client**: ``client.projects.get(id)`` through the SDK with
  ``Limits.unlimited()`` (transport, limiter bookkeeping, retries armed,
  error mapping, parsing into a frozen ``Project``).

Many short rounds alternate bare/client, so bursts of other load on the
machine hit both alike; each loop is judged by its least disturbed round (the
best requests/s, the least CPU), and the headline is the ratio of those bests.
The median of the per-pair ratios is reported beside it. CPU microseconds per
request are of this (client) process only.

    python -m benchmarks.client_throughput [--requests 1500] [--concurrency 16] [--rounds 16]

Results: ``benchmarks/results/client_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._report import RESULTS, save
from benchmarks._simproc import simulator_process
from videoagent import AsyncVideoAgent, Limits, __version__

TARGET = 0.90


async def run_round(
    requests: int, concurrency: int, one: Callable[[], Awaitable[object]]
) -> dict[str, float]:
    """``requests`` calls of ``one`` by ``concurrency`` workers: rate and CPU cost."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "requests_per_second": requests / wall,
        "cpu_us_per_request": cpu / requests * 1e6,
        "wall_seconds": wall,
    }


async def measure(requests: int, concurrency: int, rounds: int) -> dict[str, Any]:
    """Run the comparison; the report as a JSON-ready dict."""
    async with simulator_process(request_limit=None, log_requests=False, seed=1) as sim:
        base_url, api_key = sim.base_url, sim.api_key
        client = AsyncVideoAgent(api_key, base_url, limits=Limits.unlimited())
        async with client, aiohttp.ClientSession() as session:
            project = await client.projects.create("benchmark target")
            url = f"{base_url}/projects/{project.id}"
            headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

            async def bare() -> object:
                async with session.get(url, headers=headers) as resp:
                    resp.raise_for_status()
                    return await resp.json()

            async def sdk() -> object:
                return await client.projects.get(project.id)

            for warm in (bare, sdk):  # connections, caches, code paths
                await run_round(min(requests, 500), concurrency, warm)
            results: dict[str, list[dict[str, float]]] = {"bare": [], "client": []}
            for _ in range(rounds):
                results["bare"].append(await run_round(requests, concurrency, bare))
                results["client"].append(await run_round(requests, concurrency, sdk))
    best = {
        name: {
            "requests_per_second": max(run["requests_per_second"] for run in runs),
            "cpu_us_per_request": min(run["cpu_us_per_request"] for run in runs),
        }
        for name, runs in results.items()
    }
    pairs = sorted(
        client["requests_per_second"] / bare["requests_per_second"]
        for bare, client in zip(results["bare"], results["client"], strict=True)
    )
    ratio = best["client"]["requests_per_second"] / best["bare"]["requests_per_second"]
    cpu_ratio = best["bare"]["cpu_us_per_request"] / best["client"]["cpu_us_per_request"]
    return {
        "benchmark": "client_throughput",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "videoagent": __version__,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "cpus": os.cpu_count(),
        "requests_per_round": requests,
        "concurrency": concurrency,
        "rounds": rounds,
        "best": best,
        "rounds_detail": results,
        "client_vs_bare": ratio,
        "pair_ratios": pairs,
        "pair_ratio_median": statistics.median(pairs),
        "cpu_ratio": cpu_ratio,
        "target": TARGET,
        "passed": ratio >= TARGET,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    best = report["best"]
    lines = [
        "# Client throughput: GET /projects/{id}",
        "",
        f"{report['date']}, Python {report['python']}, aiohttp {report['aiohttp']}, "
        f"{report['cpus']} CPUs; simulator in another process (request limit off); "
        f"{report['requests_per_round']} requests a round, concurrency "
        f"{report['concurrency']}, {report['rounds']} alternating rounds "
        "(best requests/s and least CPU of each).",
        "",
        "| loop | requests/s | CPU µs/request (client process) |",
        "|---|---:|---:|",
    ]
    for name in ("bare", "client"):
        lines.append(
            f"| {name} | {best[name]['requests_per_second']:,.0f} "
            f"| {best[name]['cpu_us_per_request']:,.0f} |"
        )
    verdict = "meets" if report["passed"] else "misses"
    lines += [
        "",
        f"Client / bare (best rounds): **{report['client_vs_bare']:.1%}** ({verdict} the "
        f"{report['target']:.0%} target). By CPU per request, bare/client = "
        f"{report['cpu_ratio']:.1%} (the ceiling while the client process is the "
        f"bottleneck). Paired rounds: median {report['pair_ratio_median']:.0%}, range "
        f"{min(report['pair_ratios']):.0%}-{max(report['pair_ratios']):.0%} "
        "(other load on the machine).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write JSON and Markdown; exit 1 under the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.requests, args.concurrency, args.rounds))
    table = markdown(report)
    save("client_throughput", report, table, args.out)
    print(table)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
