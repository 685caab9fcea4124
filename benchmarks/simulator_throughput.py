"""Simple GETs per second the simulator serves (it must never be the bottleneck).

The simulator runs in its own process (request limit off, no request log),
as ``python -m videoagent.simulator`` would; this process is the load: an
aiohttp session with many concurrent connections doing the polling call,
``GET /v1/projects/{id}`` with the auth header, reading every body. Rounds
of a fixed duration; the best round counts.

    python -m benchmarks.simulator_throughput [--seconds 3] [--concurrency 64] [--rounds 3]

Results: ``benchmarks/results/simulator_throughput.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from benchmarks._report import save, stamp

#: the issue's floor, simple GETs per second on a 2-core machine
TARGET = 2_000


@contextlib.asynccontextmanager
async def simulator_process() -> AsyncIterator[tuple[str, str]]:
    """``(base_url, api_key)`` of a simulator in a child process, stopped afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "videoagent.simulator",
        "--port",
        "0",
        "--seed",
        "1",
        "--request-limit",
        "none",
        "--no-request-log",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        base_url, api_key = line.decode().split()
        yield base_url, api_key
    finally:
        process.terminate()
        await process.wait()


async def one_round(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], seconds: float, workers: int
) -> dict[str, float]:
    """Hammer ``url`` with ``workers`` concurrent loops for ``seconds``; count the answers."""
    done = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            async with session.get(url, headers=headers) as answer:
                await answer.read()
                if answer.status == 200:
                    done += 1
                else:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    return {"requests": done, "errors": errors, "seconds": elapsed, "per_second": done / elapsed}


async def measure(seconds: float, concurrency: int, rounds: int) -> dict[str, Any]:
    """Start the simulator, make one project, and run the rounds against it."""
    async with simulator_process() as (base_url, api_key):
        headers = {"Authorization": f"Bearer {api_key}"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
                base_url + "/projects", json={"brief": "benchmark"}, headers=headers
            ) as answer:
                project_id = (await answer.json())["id"]
            url = f"{base_url}/projects/{project_id}"
            await one_round(session, url, headers, 0.5, concurrency)  # warm up
            detail = [
                await one_round(session, url, headers, seconds, concurrency) for _ in range(rounds)
            ]
    best = max(detail, key=lambda r: r["per_second"])
    return {
        "benchmark": "simulator_throughput",
        **stamp(),
        "request": "GET /v1/projects/{id}",
        "concurrency": concurrency,
        "seconds_per_round": seconds,
        "rounds": detail,
        "per_second": round(best["per_second"]),
        "median_per_second": round(statistics.median(r["per_second"] for r in detail)),
        "errors": sum(int(r["errors"]) for r in detail),
        "target_per_second": TARGET,
        "meets_target": best["per_second"] >= TARGET,
    }


def write(result: dict[str, Any]) -> None:
    """Write the JSON and the Markdown table into ``benchmarks/results/``."""
    rows = "\n".join(
        f"| {n + 1} | {r['requests']:,} | {r['seconds']:.2f} | {r['per_second']:,.0f} |"
        for n, r in enumerate(result["rounds"])
    )
    save(
        "simulator_throughput",
        result,
        f"""# Simulator throughput

`{result["request"]}` with {result["concurrency"]} concurrent connections from another
process; simulator in its own process, request limit off. {result["machine"]["cpus"]} CPUs,
Python {result["machine"]["python"]}, {result["when"]}.

| round | answers | seconds | per second |
|---|---|---|---|
{rows}

**Best: {result["per_second"]:,} GETs/s**, median {result["median_per_second"]:,}/s
(target {TARGET:,}/s: {"met" if result["meets_target"] else "NOT met"}), errors: {result["errors"]}.

Reproduce: `python -m benchmarks.simulator_throughput`
""",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the target is met."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulator_throughput")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each round")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the best counts)")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.seconds, args.concurrency, args.rounds))
    write(result)
    print(
        f"simulator: best {result['per_second']:,} GETs/s, "
        f"median {result['median_per_second']:,} (target {TARGET:,})"
    )
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
