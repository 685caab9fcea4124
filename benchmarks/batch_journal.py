"""What the batch journal costs: the same batch with the SQLite journal and with a no-op one.

Side by side in one run: each round starts two fresh simulators with the same
seed (so every project takes exactly as long in both) and runs the same
batch through ``BatchRunner`` once with the journal (a WAL SQLite file in a
temporary folder, every write awaited off the event loop) and once with
``journal=False`` (``NullJournal``). The order alternates between rounds.

Figures per round:

* **wall overhead** (the headline): (wall with journal - wall without) /
  wall without; the median over rounds must stay under 5%;
* **awaited share**: seconds the briefs spent awaiting journal writes / the
  batch's wall time (thread hops included; a brief's wait overlaps the other
  briefs' work, so it bounds the cost from above);
* **SQLite share**: seconds inside SQLite (in its worker thread) / wall time.

The batch runs at time scale 0.002 (500 times faster than the real service)
with short phases, so a whole batch takes seconds while each SQLite write
still costs its real microseconds: against the real service the share is
hundreds of times smaller.

    python -m benchmarks.batch_journal [--briefs 30] [--rounds 5]

Results: ``benchmarks/results/batch_journal.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._report import RESULTS, save
from videoagent import __version__
from videoagent.batch import BatchRunner, counted_client
from videoagent.simulator import Simulator

TARGET = 0.05
SCALE = 0.002
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}


async def one_batch(briefs: list[str], *, seed: int, journal: bool) -> dict[str, Any]:
    """Run the batch on a fresh simulator; its wall time and journal statistics."""
    sqlite_seconds = 0.0
    async with (
        Simulator(
            time_scale=SCALE, seed=seed, durations=FAST, projects_per_day=None, log_requests=False
        ) as sim,
        counted_client(sim.api_key, sim.base_url, time_scale=SCALE) as (client, count),
    ):
        with tempfile.TemporaryDirectory() as folder:
            runner = BatchRunner(client, out=folder, journal=journal, count_requests=count)
            summary = await runner.run(briefs)
            sqlite_seconds = runner.journal_statistics().sqlite_seconds
    assert len(summary.done) == len(briefs), summary.failed
    return {
        "wall_time": summary.wall_time,
        "journal_writes": summary.journal_writes,
        "journal_seconds": summary.journal_seconds,
        "sqlite_seconds": sqlite_seconds,
        "requests": summary.requests,
    }


async def measure(briefs: int, rounds: int) -> dict[str, Any]:
    """Alternate journal / no journal for ``rounds`` rounds; the report."""
    texts = [f"benchmark teaser number {i}" for i in range(briefs)]
    runs: list[dict[str, Any]] = []
    for round_ in range(rounds):
        order = (True, False) if round_ % 2 == 0 else (False, True)
        pair = {}
        for journal in order:
            pair["journal" if journal else "none"] = await one_batch(
                texts, seed=100 + round_, journal=journal
            )
        on, off = pair["journal"], pair["none"]
        runs.append(
            {
                "round": round_,
                "journal": on,
                "none": off,
                "write_share": on["journal_seconds"] / on["wall_time"],
                "sqlite_share": on["sqlite_seconds"] / on["wall_time"],
                "wall_overhead": (on["wall_time"] - off["wall_time"]) / off["wall_time"],
            }
        )
    shares = [r["write_share"] for r in runs]
    overheads = [r["wall_overhead"] for r in runs]
    writes = runs[0]["journal"]["journal_writes"]
    return {
        "benchmark": "batch_journal",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "videoagent": __version__,
        "cpus": os.cpu_count(),
        "briefs": briefs,
        "rounds": rounds,
        "time_scale": SCALE,
        "writes_per_batch": writes,
        "runs": runs,
        "write_share_median": statistics.median(shares),
        "write_share_max": max(shares),
        "sqlite_share_median": statistics.median(r["sqlite_share"] for r in runs),
        "wall_overhead_median": statistics.median(overheads),
        "target": TARGET,
        "passed": statistics.median(overheads) < TARGET,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    lines = [
        "# Batch journal overhead",
        "",
        f"{report['when']}, Python {report['python']}, aiohttp {report['aiohttp']}, "
        f"{report['cpus']} CPUs; {report['briefs']} briefs a batch at time scale "
        f"{report['time_scale']} (short phases), simulator in-process; {report['rounds']} "
        f"rounds, journal on / off alternating, same seed within a round; "
        f"{report['writes_per_batch']} journal writes a batch.",
        "",
        "| round | wall, journal (s) | wall, no journal (s) | wall overhead "
        "| awaiting writes (s) | awaited share | in SQLite (s) | SQLite share |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['round']} | {run['journal']['wall_time']:.2f} "
            f"| {run['none']['wall_time']:.2f} | {run['wall_overhead']:+.1%} "
            f"| {run['journal']['journal_seconds']:.3f} | {run['write_share']:.2%} "
            f"| {run['journal']['sqlite_seconds']:.4f} | {run['sqlite_share']:.2%} |"
        )
    verdict = "meets" if report["passed"] else "misses"
    lines += [
        "",
        f"Wall time with the journal vs without, same batch and seed: median "
        f"**{report['wall_overhead_median']:+.1%}** ({verdict} the under "
        f"{report['target']:.0%} target). Time awaiting journal writes: median "
        f"{report['write_share_median']:.2%} of the wall time (worst "
        f"{report['write_share_max']:.2%}; an upper bound, as the writes overlap other "
        f"briefs' work); inside SQLite itself: median {report['sqlite_share_median']:.2%}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write JSON and Markdown; exit 1 over the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--briefs", type=int, default=30, help="briefs a batch")
    parser.add_argument("--rounds", type=int, default=5, help="pairs of batches")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = asyncio.run(measure(args.briefs, args.rounds))
    table = markdown(report)
    save("batch_journal", report, table, args.out)
    print(table)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
