"""Batch test fixtures: a fast simulator (short phases, scaled time) and a counted client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from batch_helpers import FAST, SCALE

from videoagent import AsyncVideoAgent
from videoagent.batch import RequestCounter, counted_client
from videoagent.simulator import Simulator


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
