"""Fixtures of the integration tests: a simulator whose projects move only when told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from app_helpers import STEPPED

from videoagent.simulator import Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose phases last until the test advances its clock (``sim.advance(PHASE)``)."""
    async with Simulator(time_scale=0.01, seed=7, durations=STEPPED) as simulator:
        yield simulator
