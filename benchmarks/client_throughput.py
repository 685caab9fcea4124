"""GET requests per second through ``AsyncVideoAgent`` vs. a bare aiohttp loop.

The simulator runs in another process (request limit off, no request log). In
the same run, at the same concurrency, against the same project:

* **bare**: the idiomatic ``aiohttp.ClientSession`` loop doing
  ``GET /projects/{id}`` with the auth header, ``raise_for_status()`` and
  ``await resp.json()``;
* **client**: ``client.projects.get(id)`` through the SDK with
  ``Limits.unlimited()`` (transport, limiter bookkeeping, retries armed,
  error mapping, parsing into a frozen ``Project``).

Many short rounds alternate bare/client (in turn bare first, client first),
so bursts of other load on the machine and any drift hit both alike. Two
figures, and both must reach the target: the **median of the paired ratios**
(client/bare requests/s of rounds run back to back) and the ratio of each
loop's **best round** (its least disturbed one). CPU microseconds per request
are of this (client) process only: their paired median ratio is the ceiling
while the client process is the bottleneck.

    python -m benchmarks.client_throughput [--requests 1000] [--concurrency 16] [--rounds 24]

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

from benchmarks._report import RESULTS, save, throughput_summary
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
            loops = {"bare": bare, "client": sdk}
            results: dict[str, list[dict[str, float]]] = {"bare": [], "client": []}
            for index in range(rounds):
                for name in ("bare", "client") if index % 2 == 0 else ("client", "bare"):
                    results[name].append(await run_round(requests, concurrency, loops[name]))
    best, median = throughput_summary(results)
    pairs = list(zip(results["bare"], results["client"], strict=True))
    pair_ratios = sorted(c["requests_per_second"] / b["requests_per_second"] for b, c in pairs)
    cpu_ratios = sorted(b["cpu_us_per_request"] / c["cpu_us_per_request"] for b, c in pairs)
    best_ratio = best["client"]["requests_per_second"] / best["bare"]["requests_per_second"]
    pair_median = statistics.median(pair_ratios)
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
        "median": median,
        "rounds_detail": results,
        "pair_ratios": pair_ratios,
        "pair_ratio_median": pair_median,
        "pair_ratio_quartiles": statistics.quantiles(pair_ratios, n=4),
        "best_round_ratio": best_ratio,
        "cpu_ratio_median": statistics.median(cpu_ratios),
        "target": TARGET,
        "passed": min(pair_median, best_ratio) >= TARGET,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    best, median = report["best"], report["median"]
    low, _, high = report["pair_ratio_quartiles"]
    lines = [
        "# Client throughput: GET /projects/{id}",
        "",
        f"{report['date']}, Python {report['python']}, aiohttp {report['aiohttp']}, "
        f"{report['cpus']} CPUs; simulator in another process (request limit off); "
        f"{report['requests_per_round']} requests a round, concurrency "
        f"{report['concurrency']}, {report['rounds']} rounds of each loop, alternating.",
        "",
        "| loop | requests/s (median) | requests/s (best) "
        "| CPU µs/request (median) | CPU µs/request (least) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("bare", "client"):
        lines.append(
            f"| {name} | {median[name]['requests_per_second']:,.0f} "
            f"| {best[name]['requests_per_second']:,.0f} "
            f"| {median[name]['cpu_us_per_request']:,.1f} "
            f"| {best[name]['cpu_us_per_request']:,.1f} |"
        )
    verdict = "meets" if report["passed"] else "misses"
    lines += [
        "",
        f"Client / bare: **{report['pair_ratio_median']:.1%}** median of the paired rounds "
        f"(quartiles {low:.1%}-{high:.1%}), **{report['best_round_ratio']:.1%}** best round "
        f"vs best round: {verdict} the {report['target']:.0%} target. By CPU per request, "
        f"bare/client = {report['cpu_ratio_median']:.1%} (paired median; the ceiling while "
        "the client process is the bottleneck).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write JSON and Markdown; exit 1 under the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=24, help="rounds of each loop")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.requests, args.concurrency, args.rounds))
    table = markdown(report)
    save("client_throughput", report, table, args.out)
    print(table)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
