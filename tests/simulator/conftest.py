"""Fixtures of the simulator's tests: an HTTP session and checked API helpers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sim_helpers import Api, MakeApi

from videoagent.simulator import Simulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session (no auth, no base URL)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(simulator: Simulator, session: aiohttp.ClientSession) -> Api:
    """The default account's API on the shared ``simulator`` fixture, answers checked."""
    return Api(session, simulator.base_url, simulator.api_key)


@pytest.fixture
async def make_api(session: aiohttp.ClientSession) -> AsyncIterator[MakeApi]:
    """A factory of simulators with custom knobs (100x faster, seeded), each with its Api."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**options: Any) -> tuple[Simulator, Api]:
            options.setdefault("time_scale", 0.01)
            options.setdefault("seed", 7)
            sim = await stack.enter_async_context(Simulator(**options))
            limited = options.get("request_limit", 30) is not None
            return sim, Api(session, sim.base_url, sim.api_key, limited=limited)

        yield make
