"""Fleet mode inside one test process: several clients, each its own fleet member."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest
from common_helpers import ACTIVE_LIMIT, REQUEST_LIMIT, max_in_window, until
from fleet_helpers import runtime_of
from redis.asyncio import Redis
from redis_helpers import RedisServer

from videoagent import AsyncVideoAgent
from videoagent._limiter import LocalLimits, RequestBudget
from videoagent._wiring import wiring_of
from videoagent.fleet import FleetRuntime, RedisBackend
from videoagent.simulator import Simulator

SCALE = 0.01
LEASE = 1.0


@pytest.fixture
async def simulator_for_fleet() -> AsyncIterator[Simulator]:
    """A simulator with short phases, 100x faster."""
    fast = {"queued": (5, 10), "running": (10, 20), "generating": (20, 40), "rendering": (5, 10)}
    async with Simulator(time_scale=SCALE, seed=3, durations=fast) as sim:
        yield sim


def _backend(server: RedisServer, **options: object) -> RedisBackend:
    return RedisBackend(url=server.url, lease=LEASE, **options)  # type: ignore[arg-type]


async def _members(
    stack: AsyncExitStack, sim: Simulator, server: RedisServer, count: int
) -> list[AsyncVideoAgent]:
    backend = _backend(server)
    return [
        await stack.enter_async_context(
            AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=SCALE, limits_backend=backend)
        )
        for _ in range(count)
    ]


async def test_clients_share_one_sliding_log(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """Three fleet members firing 75 requests at once: never over 30 a window, no 429."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        clients = await _members(stack, sim, redis_server, 3)
        async with anyio.create_task_group() as group:
            for i in range(75):
                group.start_soon(clients[i % 3].account.get)
        rounds = sum(runtime_of(c).statistics().round_trips for c in clients)
    counted = [r.at for r in sim.request_log if r.counted]
    assert len(counted) == 75
    assert max_in_window(counted, 60 * SCALE) <= REQUEST_LIMIT
    assert max_in_window(counted, 60 * SCALE) >= 25  # and the budget was used, not starved
    assert not [r for r in sim.request_log if r.status == 429]
    assert rounds < 75 * 6


async def test_a_release_rides_along_with_the_next_admission(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """20 requests one after another cost about one Redis round trip each, not two."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        (client,) = await _members(stack, sim, redis_server, 1)
        await client.api_keys.list()  # the scripts are loaded, the first heartbeat is done
        before = runtime_of(client).statistics().round_trips
        for _ in range(20):
            await client.api_keys.list()
        rounds = runtime_of(client).statistics().round_trips - before
    assert len(sim.request_log) == 21
    assert rounds <= 20 + 4  # an admission each; a few heartbeats or flushes besides


async def test_active_slots_are_shared_and_granted_in_arrival_order(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """Five leases fill the account; waiters from two members get freed slots in arrival order."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        a, b = await _members(stack, sim, redis_server, 2)
        held = [await wiring_of(a).slots.reserve() for _ in range(5)]
        order: list[str] = []

        async def wait_for_slot(client: AsyncVideoAgent, name: str) -> None:
            reservation = await wiring_of(client).slots.reserve()
            order.append(name)
            reservation.cancel()

        async with anyio.create_task_group() as group:
            for i, client in enumerate((b, a, b)):
                group.start_soon(wait_for_slot, client, f"w{i}")
                await anyio.wait_all_tasks_blocked()
                await anyio.sleep(0.05)  # its ticket is in the Redis queue
            assert order == []
            held.pop(0).cancel()
        assert order == ["w0", "w1", "w2"]
        for reservation in held:
            reservation.cancel()


async def test_projects_across_members_respect_five_active(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """Two members create 10 projects between them: at most 5 active, none refused."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        clients = await _members(stack, sim, redis_server, 2)

        async def one(i: int) -> None:
            client = clients[i % 2]
            project = await client.projects.create(f"brief {i}")
            await client.projects.wait(project.id)

        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(one, i)
    stats = sim.stats()
    assert stats.projects_created == 10
    assert stats.max_active_projects <= ACTIVE_LIMIT
    assert (stats.project_limit, stats.rate_limited) == (0, 0)


async def test_one_member_polls_a_project_and_a_notify_anywhere_reaches_it(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """Two members watch one project: one polls, both see the end; a notify at either reaches it."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        a, b = await _members(stack, sim, redis_server, 2)
        project = await a.projects.create("shared")
        watchers = [a.watcher, b.watcher]
        for watcher in watchers:
            watcher.watch(project.id)
        await until(lambda: all(runtime_of(c).watch.owns(project.id) is not None for c in (a, b)))
        owners = [runtime_of(c).watch.owns(project.id) for c in (a, b)]
        assert sorted(owners) == [False, True]
        owner, other = (0, 1) if owners[0] else (1, 0)
        before = watchers[owner].statistics().polls
        watchers[other].notify(project.id)  # a webhook arrived at the other replica
        await until(lambda: watchers[owner].statistics().polls > before)
        done = await watchers[other].wait(project.id)
        assert done.status.is_terminal
        assert watchers[other].statistics().polls == 0
    gets = [r for r in sim.request_log if r.path == f"/v1/projects/{project.id}"]
    assert len(gets) == watchers[owner].statistics().polls


async def test_requests_wait_while_redis_is_away_and_resume(
    redis_server: RedisServer, simulator_for_fleet: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stopped: a request waits (fail closed), logs why, and goes once Redis is back."""
    sim = simulator_for_fleet
    caplog.set_level(logging.WARNING, logger="videoagent.fleet")
    async with AsyncExitStack() as stack:
        (client,) = await _members(stack, sim, redis_server, 1)
        await client.account.get()
        await anyio.to_thread.run_sync(redis_server.stop)
        seen = len(sim.request_log)
        async with anyio.create_task_group() as group:
            group.start_soon(client.account.get)
            await until(lambda: "unreachable" in caplog.text)
            assert len(sim.request_log) == seen  # nothing went out without Redis
            await anyio.to_thread.run_sync(redis_server.start)
        assert len(sim.request_log) == seen + 1
    assert "is back" in caplog.text
    assert "lost the fleet's state" in caplog.text  # an empty Redis: it waited a window


async def test_redis_holds_no_api_key_and_names_the_account_by_a_hash(
    redis_server: RedisServer, simulator_for_fleet: Simulator
) -> None:
    """The account's name in Redis is a hash of the key (or a given name); the key never appears."""
    sim = simulator_for_fleet
    async with AsyncExitStack() as stack:
        (client,) = await _members(stack, sim, redis_server, 1)
        await client.account.get()
        named = await stack.enter_async_context(
            AsyncVideoAgent(
                sim.api_key,
                sim.base_url,
                time_scale=SCALE,
                limits_backend=_backend(redis_server, account="team-a"),
            )
        )
        await named.account.get()
        redis = Redis.from_url(redis_server.url, decode_responses=True)
        keys = await redis.keys("*")
        dump = [str(await redis.dump(key)) for key in keys]
        await redis.aclose()
    assert any("{team-a}" in key for key in keys)
    assert any(runtime_of(client).account in key for key in keys)
    assert sim.api_key not in " ".join(keys + dump)
    assert sim.api_key not in repr(runtime_of(client)) + repr(_backend(redis_server))


def test_without_a_backend_the_limits_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backend and no VIDEOAGENT_REDIS_URL: the in-process budget; the variable selects Redis."""
    monkeypatch.delenv("VIDEOAGENT_REDIS_URL", raising=False)
    plain = AsyncVideoAgent("es_live_" + "a" * 32, "http://127.0.0.1:9/v1")
    assert isinstance(wiring_of(plain).shared, LocalLimits)
    assert isinstance(wiring_of(plain).budget, RequestBudget)
    monkeypatch.setenv("VIDEOAGENT_REDIS_URL", "redis://127.0.0.1:9/0")
    fleet = AsyncVideoAgent("es_live_" + "a" * 32, "http://127.0.0.1:9/v1")
    assert isinstance(wiring_of(fleet).shared, FleetRuntime)
