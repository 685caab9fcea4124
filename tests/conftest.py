"""Shared fixtures: a real simulator on loopback, a client talking to it, a redis-server.

Every coroutine test runs under anyio's pytest plugin (auto mode, see pyproject)
on asyncio, inside a cancel scope with a deadline (``ASYNC_TEST_DEADLINE``): a
hang fails that test cleanly and its fixtures still tear down. pytest-timeout
(pyproject, thread method) is the backstop for anything else that hangs, such
as a fixture's teardown: it dumps every stack and ends the run.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from odd_server import OddServer
from redis_helpers import RedisServer, find_redis_server

from videoagent import AsyncVideoAgent
from videoagent.simulator import Simulator

#: Scaled time: the real protocol, 100 times faster.
TIME_SCALE = 0.01
SEED = 7
#: Seconds any async test may take; pytest-timeout's 120 s catches the rest.
ASYNC_TEST_DEADLINE = 90.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every coroutine test inside ``anyio.fail_after(ASYNC_TEST_DEADLINE)``."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _with_deadline(item.obj)


def _with_deadline(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        with anyio.fail_after(ASYNC_TEST_DEADLINE):
            await test(*args, **kwargs)

    return run


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


@pytest.fixture
async def odd_server() -> AsyncIterator[OddServer]:
    """A loopback server for malformed answers; routes are added by the test."""
    server = OddServer()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server (no persistence) on a free loopback port, stopped afterwards.

    Without the program the test skips, unless ``VIDEOAGENT_REQUIRE_SYSTEM=1``
    (CI) makes that a failure.
    """
    program = find_redis_server()
    with RedisServer(program) as server:
        yield server
