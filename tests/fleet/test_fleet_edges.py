"""Fleet mode edges: errors through as themselves (a client on Redis, the fleet connection),
and a huge server figure clamped in Redis too."""

from __future__ import annotations

import aiohttp.web
import anyio
import pytest
from common_helpers import Boom
from fleet_helpers import RedisServer
from odd_server import OddServer
from redis.asyncio import Redis

from videoagent import AsyncVideoAgent, Limits, NotFoundError, ProjectWatcher, VideoAgentError
from videoagent.fleet import RedisBackend
from videoagent.simulator import Simulator

SCALE = 0.01
MISSING = "prj_doesnotexist0000"


async def test_errors_inside_a_fleet_client_come_out_as_themselves(
    redis_server: RedisServer,
) -> None:
    """A fleet client's block, and a watcher's block inside it, let the user's error and a
    NotFoundError of a call or a wait out as themselves."""
    backend = RedisBackend(url=redis_server.url, lease=1.0)
    async with Simulator(time_scale=SCALE, seed=3) as sim:

        def fleet_client() -> AsyncVideoAgent:
            return AsyncVideoAgent(
                sim.api_key, sim.base_url, time_scale=SCALE, limits_backend=backend
            )

        async def block(error: Exception) -> None:
            async with fleet_client() as client:
                await client.account.get()
                raise error

        async def watched(error: Exception) -> None:
            async with fleet_client() as client, ProjectWatcher(client):
                raise error

        async def not_found() -> None:
            async with fleet_client() as client:
                await client.projects.get(MISSING)

        async def waited() -> None:
            async with fleet_client() as client, ProjectWatcher(client) as watcher:
                await watcher.wait(MISSING)

        for run in (lambda: block(Boom()), lambda: watched(Boom())):
            with pytest.raises(Boom):
                await run()
        for run in (not_found, waited):
            with pytest.raises(NotFoundError):
                await run()


async def test_an_error_inside_the_fleet_connection_comes_out_as_itself(
    redis_server: RedisServer,
) -> None:
    """``async with`` a fleet connection (``RedisBackend.connect``) lets the block's error
    out as itself; a failed task of its own surfaces once, as a VideoAgentError."""
    backend = RedisBackend(url=redis_server.url, lease=1.0)

    def connection() -> object:
        return backend.connect(api_key="es_live_" + "f" * 32, limits=Limits(), time_scale=SCALE,
                               timeout=30.0)  # fmt: skip

    async def block(error: Exception) -> None:
        async with connection() as fleet:  # type: ignore[attr-defined]
            await anyio.wait_all_tasks_blocked()
            assert fleet.statistics().redis_up
            raise error

    async def broken() -> None:
        raise RuntimeError("a bug of ours")

    async def failing_task() -> None:
        async with connection() as fleet:  # type: ignore[attr-defined]
            fleet._tasks.start_soon(broken, name="broken")
            await anyio.sleep_forever()  # cancelled by the failure

    with pytest.raises(Boom):
        await block(Boom())
    with pytest.raises(NotFoundError):
        await block(NotFoundError("gone", status=404))
    with pytest.raises(VideoAgentError, match="fleet connection failed: RuntimeError") as info:
        await failing_task()
    assert type(info.value) is VideoAgentError


async def test_a_huge_active_projects_figure_is_clamped_in_the_fleet_too(
    redis_server: RedisServer, odd_server: OddServer
) -> None:
    """A fleet client told ``active_projects: 10**4000`` takes at most a limit's worth of
    leases for unknown projects, in Redis too (O(1), not one per project)."""
    body = (
        '{"credits": 500, "plan": "free", "renders_today": 0, "projects_today": 0, '
        f'"active_projects": 1{"0" * 4_000}}}'
    )

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text=body, content_type="application/json")

    odd_server.route("GET", "/v1/account", account)
    backend = RedisBackend(url=redis_server.url, lease=1.0)
    redis = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with AsyncVideoAgent(
            "es_live_" + "f" * 32,
            await odd_server.start(),
            time_scale=SCALE,
            limits_backend=backend,
        ) as client:
            assert (await client.account.get()).active_projects == 10**4_000
            with anyio.fail_after(20):
                while not (leases := await _unknown_leases(redis)):  # noqa: ASYNC110 - Redis I/O
                    await anyio.sleep(0.01)
            assert (await client.account.get()).active_projects == 10**4_000
        assert leases <= 2 * 5
        assert await _unknown_leases(redis) <= 2 * 5
    finally:
        await redis.aclose()


async def _unknown_leases(redis: Redis) -> int:
    """Leases held in Redis for active projects nobody in the fleet knows (``f:``)."""
    count = 0
    async for key in redis.scan_iter(match="videoagent:*:slots"):
        count += sum(1 for m in await redis.zrange(key, 0, -1) if m.startswith("f:"))
    return count
