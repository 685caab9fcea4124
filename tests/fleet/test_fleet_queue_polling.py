"""Fleet slots when a job queue polls (``polling="queue"``): any sighting of an end frees a slot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest
from fleet_helpers import SCALE, join, live_leases, runtime_of
from redis.asyncio import Redis
from redis_helpers import RedisServer

from videoagent import AsyncVideoAgent
from videoagent._wiring import wiring_of
from videoagent.fleet import SlotWaitTimeoutError
from videoagent.simulator import Simulator

#: Short phases: a project ends within about a second of real time.
FAST = {"queued": (5, 10), "running": (10, 20), "generating": (20, 40), "rendering": (5, 10)}


@pytest.fixture
async def fast_simulator() -> AsyncIterator[Simulator]:
    """A simulator with short phases, 100x faster."""
    async with Simulator(time_scale=SCALE, seed=5, durations=FAST) as sim:
        yield sim


@contextlib.asynccontextmanager
async def _members(
    sim: Simulator, server: RedisServer, count: int
) -> AsyncIterator[list[AsyncVideoAgent]]:
    """``count`` members of one fleet whose projects a job queue polls (``polling="queue"``)."""
    async with AsyncExitStack() as stack:
        yield [await join(stack, sim, server, polling="queue") for _ in range(count)]


async def _poll_to_the_end(client: AsyncVideoAgent, project_id: str) -> int:
    """Poll as a job queue's steps do, until the project ends; the polls made."""
    polls, since, previous = 0, None, None
    while True:
        step = await client.projects.poll(project_id, since=since, previous=previous)
        polls += 1
        if step.countdown is None:
            return polls
        since, previous = step.since, step.project.status
        await anyio.sleep(step.countdown)


async def test_another_members_polls_free_the_slots_the_creator_holds(
    redis_server: RedisServer, fast_simulator: Simulator
) -> None:
    """The creator never polls; the poller's sightings free its 5 slots: a 6th create, no 429."""
    sim = fast_simulator
    async with _members(sim, redis_server, 2) as (creator, poller):
        assert not runtime_of(creator).tracks_projects
        made = [await creator.projects.create(f"brief {n}") for n in range(5)]
        assert sorted(await live_leases(redis_server, creator)) == sorted(p.id for p in made)
        polls = 0
        with anyio.fail_after(60):
            for project in made:
                polls += await _poll_to_the_end(poller, project.id)
            sixth = await creator.projects.create("brief 5")
        assert await live_leases(redis_server, creator) == [sixth.id]
    gets = [r for r in sim.request_log if r.method == "GET" and r.path.startswith("/v1/projects/")]
    assert len(gets) == polls  # the creator's watcher polled nothing
    stats = sim.stats()
    assert (stats.project_limit, stats.rate_limited, stats.max_active_projects) == (0, 0, 5)


async def test_a_freed_lease_is_let_go_by_its_holder_and_not_adopted_again(
    redis_server: RedisServer, fast_simulator: Simulator
) -> None:
    """The holder lets go a lease another member saw end; a late sighting adopts nothing."""
    async with _members(fast_simulator, redis_server, 3) as (creator, poller, late):
        project = await creator.projects.create("a brief")
        stale = await late.projects.get(project.id)  # an active sighting, read early
        assert stale.status.is_active
        with anyio.fail_after(60):
            await _poll_to_the_end(poller, project.id)
            assert await live_leases(redis_server, poller) == []
            while creator.statistics().slots.held:  # its next heartbeat lets it go
                runtime_of(creator).beat_soon()
                await anyio.sleep(0.05)
        wiring_of(late).slots.observe(stale.id, active=True)  # the early sighting, late
        assert await live_leases(redis_server, late) == []
        assert late.statistics().slots.held == 0


async def test_a_bounded_slot_wait_gives_up_with_nothing_sent(redis_server: RedisServer) -> None:
    """``slot_wait``: a 6th create raises SlotWaitTimeoutError, sends nothing, leaves the queue."""
    async with (
        Simulator(time_scale=SCALE, seed=5, durations={"queued": (600.0, 600.0)}) as sim,
        AsyncExitStack() as stack,
    ):
        client = await join(stack, sim, redis_server, polling="queue", slot_wait=0.2)
        made = [await client.projects.create(f"brief {n}") for n in range(5)]
        with anyio.fail_after(20), pytest.raises(SlotWaitTimeoutError, match="slot_wait"):
            await client.projects.create("one too many")
        assert len(sim.projects()) == 5
        assert client.statistics().slots.waiting == 0
        await client.projects.cancel(made[0].id)  # a slot frees: the next create goes
        with anyio.fail_after(20):
            await client.projects.create("one too many")
        async with Redis.from_url(redis_server.url, decode_responses=True) as redis:
            assert await redis.zcard(runtime_of(client).key("slot_queue")) == 0
    assert sim.stats().project_limit == 0
