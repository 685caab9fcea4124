"""CLI test fixtures: a fast simulator that outlives the commands run against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_helpers import FAST, SCALE

from videoagent.simulator import BackgroundSimulator


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    """A fast simulator in a background thread, for commands run in subprocesses."""
    with BackgroundSimulator(time_scale=SCALE, seed=3, durations=FAST) as sim:
        yield sim
