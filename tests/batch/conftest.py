"""Batch test fixtures: a fast simulator (short phases, scaled time) and a counted client."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from videoagent import AsyncVideoAgent
from videoagent.batch import RequestCounter, counted_client
from videoagent.simulator import Simulator

#: Real seconds per contract second in the batch tests.
SCALE = 0.002
#: Phases a few contract seconds long: a whole run is about 50-115 contract seconds.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}


@pytest.fixture
async def fast_simulator() -> AsyncIterator[Simulator]:
    """A simulator at time scale 0.002 with short phases, seeded."""
    async with Simulator(time_scale=SCALE, seed=11, durations=FAST) as sim:
        yield sim


@pytest.fixture
async def counted(
    fast_simulator: Simulator,
) -> AsyncIterator[tuple[AsyncVideoAgent, RequestCounter]]:
    """A client of the fast simulator whose requests are counted."""
    async with counted_client(
        fast_simulator.api_key, fast_simulator.base_url, time_scale=SCALE
    ) as pair:
        yield pair


def names_in(folder: Path) -> list[str]:
    """The sorted names of a folder's entries."""
    return sorted(p.name for p in folder.iterdir())


def remove(path: str | Path) -> None:
    """Delete a file."""
    Path(path).unlink()


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
