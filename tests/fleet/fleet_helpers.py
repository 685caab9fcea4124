"""Helpers of the in-process fleet tests: members of one fleet, their runtime, the leases."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from redis.asyncio import Redis
from redis_helpers import RedisServer

from videoagent import AsyncVideoAgent
from videoagent._wiring import wiring_of
from videoagent.fleet import FleetRuntime, RedisBackend
from videoagent.simulator import Simulator

SCALE = 0.01
LEASE = 1.0


async def join(
    stack: AsyncExitStack, sim: Simulator, server: RedisServer, **backend: Any
) -> AsyncVideoAgent:
    """A client of the fleet (``backend``: more ``RedisBackend`` options), entered on ``stack``."""
    limits = RedisBackend(url=server.url, lease=LEASE, **backend)
    client = AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=SCALE, limits_backend=limits)
    return await stack.enter_async_context(client)


def runtime_of(client: AsyncVideoAgent) -> FleetRuntime:
    """The client's fleet connection."""
    fleet = wiring_of(client).shared
    assert isinstance(fleet, FleetRuntime)
    return fleet


async def live_leases(server: RedisServer, client: AsyncVideoAgent) -> list[str]:
    """The slot leases in Redis now (expired ones left out), after the client's queued writes."""
    runtime = runtime_of(client)
    await runtime._flush_all()
    async with Redis.from_url(server.url, decode_responses=True) as redis:
        seconds, micros = await redis.time()
        now = seconds * 1_000_000 + micros
        members: list[str] = await redis.zrangebyscore(runtime.key("slots"), f"({now}", "+inf")
    return members
