"""Shared fixtures: a real simulator on loopback, and a client talking to it.

Every coroutine test runs under anyio's pytest plugin (auto mode, see pyproject)
on asyncio; pytest-timeout (also in pyproject) gives each test a deadline, so a
hang fails instead of blocking CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from videoagent import AsyncVideoAgent
from videoagent.simulator import Simulator

#: Scaled time: the real protocol, 100 times faster.
TIME_SCALE = 0.01
SEED = 7


@pytest.fixture
def anyio_backend() -> str:
    """The SDK is asyncio-first; every async test runs on asyncio."""
    return "asyncio"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A fresh simulator on a free loopback port, 100x faster, seeded."""
    async with Simulator(time_scale=TIME_SCALE, seed=SEED) as sim:
        yield sim


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[AsyncVideoAgent]:
    """An AsyncVideoAgent on the simulator's default account, on the same time scale."""
    async with AsyncVideoAgent(
        simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
    ) as agent:
        yield agent
