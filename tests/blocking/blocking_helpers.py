"""Helpers of the blocking client's tests: the scale they run at, and a ``VideoAgent`` of a
simulator (a module of its own: ``conftest`` is not importable by name when several test
folders are collected together)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from videoagent import VideoAgent
from videoagent.simulator import BackgroundSimulator

#: 5 contract seconds become 10 ms: a project's whole life in about a second.
SCALE = 0.002
SEED = 11
#: Contract seconds one attempt may take: 5 real seconds at ``SCALE`` (a busy
#: machine answers on loopback in real milliseconds, not scaled ones).
TIMEOUT = 2500.0


def client_of(sim: BackgroundSimulator, key: str | None = None, **options: Any) -> VideoAgent:
    """A ``VideoAgent`` of ``sim`` (its default account unless ``key``), on its time scale."""
    settings: dict[str, Any] = {"time_scale": sim.time_scale, "timeout": TIMEOUT, **options}
    return VideoAgent(key or sim.api_key, sim.base_url, **settings)


def run_script(script: str, sim: BackgroundSimulator) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter (dev mode, warnings as errors), given ``sim``'s
    key, base URL and time scale as its arguments."""
    arguments = [sim.api_key, sim.base_url, str(sim.time_scale)]
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", script, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
