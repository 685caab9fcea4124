"""A 429 met by one fleet process holds back every process of the account until its Retry-After.

Two real worker processes (``fleet_probe.py``) share one account through a
real redis-server. An outside client of the same account (not in the fleet)
fills the server's window, so the first fleet request meets a 429. The
server's window (120 contract seconds) is twice the one the clients know
(``Limits.per`` = 60): the server's count (``X-RateLimit-Remaining``) holds
the fleet back for one client window only, so for the rest of the
``Retry-After`` nothing but the account's shared blocked-until key can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from common_helpers import until
from redis.asyncio import Redis
from redis_helpers import RedisServer

from videoagent.simulator import Simulator

SCALE = 0.01
LEASE = 1.0
SERVER_WINDOW = 120.0  # contract seconds; the clients' Limits say 60
CALLS = 3
PROBE = Path(__file__).with_name("fleet_probe.py")
#: Which process sent a request, by its path (the outside client lists projects).
PATHS = {"account": "/v1/account", "api-keys": "/v1/api-keys"}


@pytest.fixture
async def strict_simulator() -> AsyncIterator[Simulator]:
    """A simulator whose request window is twice what the clients' limits assume."""
    async with Simulator(time_scale=SCALE, seed=11, request_window=SERVER_WINDOW) as sim:
        yield sim


async def test_a_429_in_one_process_holds_back_every_process_until_its_retry_after(
    redis_server: RedisServer, strict_simulator: Simulator
) -> None:
    """Process A meets a 429: B, asking during its Retry-After, sends nothing until it ends."""
    sim = strict_simulator
    a = await _start_probe("account", redis_server, sim)
    b = await _start_probe("api-keys", redis_server, sim)
    try:
        readers = [BufferedByteReceiveStream(p.stdout) for p in (a, b) if p.stdout is not None]
        assert [await r.receive_until(b"\n", 1 << 16) for r in readers] == [b"ready"] * 2
        await _fill_the_window(sim)
        await _tell(a, "go")
        await until(lambda: any(r.status == 429 for r in sim.request_log))
        await _until_in_redis(redis_server)
        await _tell(b, "go")
        summaries = [json.loads(await r.receive_until(b"\n", 1 << 16)) for r in readers]
        assert [await p.wait() for p in (a, b)] == [0, 0]
    finally:
        for process in (a, b):
            if process.returncode is None:
                process.kill()
                await process.wait()
    log = sim.request_log
    reopens = min(r.at for r in log if r.path == "/v1/projects") + SERVER_WINDOW * SCALE
    first, *rest = [r for r in log if r.path in PATHS.values()]
    assert (first.path, first.status) == (PATHS["account"], 429)  # A met the 429
    assert summaries[1]["asked_at"] < reopens  # B asked while the server's window was full
    sent_while_blocked = [(r.path, r.status) for r in rest if r.at < reopens]
    assert sent_while_blocked == []  # no process sent until the Retry-After was over
    for path in PATHS.values():  # then both resumed
        assert [r.status for r in rest if r.path == path] == [200] * CALLS
    assert [s["errors"] for s in summaries] == [[], []]


async def _start_probe(what: str, server: RedisServer, sim: Simulator) -> anyio.abc.Process:
    env = {
        **os.environ,
        "VIDEOAGENT_API_KEY": sim.api_key,
        "VIDEOAGENT_BASE_URL": sim.base_url,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("VIDEOAGENT_REDIS_URL", None)
    command = [sys.executable, str(PROBE), server.url, what, str(CALLS), str(SCALE), str(LEASE)]
    return await anyio.open_process(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
    )


async def _tell(process: anyio.abc.Process, line: str) -> None:
    assert process.stdin is not None
    await process.stdin.send(f"{line}\n".encode())


async def _fill_the_window(sim: Simulator) -> None:
    """An outside client of the account spends the server's whole window at once."""
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    remaining: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one() -> None:
            async with session.get(f"{sim.base_url}/projects") as response:
                assert response.status == 200
                remaining.append(response.headers["X-RateLimit-Remaining"])

        async with anyio.create_task_group() as group:
            for _ in range(30):
                group.start_soon(one)
    assert "0" in remaining


async def _until_in_redis(server: RedisServer) -> None:
    """A's writes after its 429 reached Redis: the server's count of 30 is in the fleet's log."""
    redis = Redis.from_url(server.url, decode_responses=True)
    try:
        with anyio.fail_after(20.0):
            while True:
                logs = await redis.keys("*:log")
                if logs and await redis.zcard(logs[0]) >= 30:
                    return
                await anyio.sleep(0.005)
    finally:
        await redis.aclose()
