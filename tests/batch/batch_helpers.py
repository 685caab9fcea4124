"""Helpers of the batch tests: the fast time scale and phases, and file checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
