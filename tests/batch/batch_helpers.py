"""Helpers of the batch tests: the fast time scale and phases, and file checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

from videoagent.simulator import Simulator

#: Real seconds per contract second in the batch tests.
SCALE = 0.002
#: Phases a few contract seconds long: a whole run is about 50-115 contract seconds.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}


def names_in(folder: Path) -> list[str]:
    """The sorted names of a folder's entries."""
    return sorted(p.name for p in folder.iterdir())


def remove(path: str | Path) -> None:
    """Delete a file."""
    Path(path).unlink()


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def set_plan(sim: Simulator, api_key: str, plan: str) -> None:
    """Move the account of ``api_key`` to ``plan`` (as a lapsed or renewed subscription would).

    The simulator has no public control for a plan change yet: this sets its account's plan.
    """
    sim._sim.account(api_key).plan = plan


def requests_to(sim: Simulator, method: str, ending: str) -> int:
    """How many ``/v1`` requests the simulator saw with ``method`` and a path ending ``ending``."""
    return sum(1 for r in sim.request_log if r.method == method and r.path.endswith(ending))
