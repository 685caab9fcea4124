"""Where benchmarks write their results (a JSON report and a Markdown table, side by side),
and the summaries of repeated rounds they share."""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def stamp() -> dict[str, Any]:
    """When and where a result was measured: ``when`` (UTC) and ``machine``."""
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },
    }


def save(name: str, result: dict[str, Any], markdown: str, out: Path = RESULTS) -> None:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.md``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)


_THROUGHPUT = ("requests_per_second", "cpu_us_per_request")


def throughput_summary(
    results: dict[str, list[dict[str, float]]],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The best and the median round of each loop: requests/s (most) and CPU µs (least)."""
    best = {
        name: {
            "requests_per_second": max(run["requests_per_second"] for run in runs),
            "cpu_us_per_request": min(run["cpu_us_per_request"] for run in runs),
        }
        for name, runs in results.items()
    }
    median = {
        name: {key: statistics.median(run[key] for run in runs) for key in _THROUGHPUT}
        for name, runs in results.items()
    }
    return best, median
