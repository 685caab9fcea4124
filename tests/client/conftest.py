"""Fixtures of the client tests: a tiny aiohttp.web server for answers the simulator never gives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp.web
import pytest

from videoagent import AsyncVideoAgent, Limits, Project

#: A well-formed key that no server knows; tests scan logs and reprs for it.
FAKE_KEY = "es_live_" + "Z" * 28 + "k3y9"

Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]]


class OddServer:
    """A loopback aiohttp.web server whose routes a test adds before using it."""

    def __init__(self) -> None:
        self.app = aiohttp.web.Application()
        self.requests: list[aiohttp.web.Request] = []
        self._runner: aiohttp.web.AppRunner | None = None
        self.url = ""

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``method path`` (recording each request)."""

        async def recording(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
            self.requests.append(request)
            return await handler(request)

        self.app.router.add_route(method, path, recording)

    async def start(self) -> str:
        """Start listening; the base URL (ending in /v1)."""
        self._runner = aiohttp.web.AppRunner(self.app)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return f"{self.url}/v1"

    async def close(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def odd_server() -> AsyncIterator[OddServer]:
    """A loopback server for malformed answers; routes are added by the test."""
    server = OddServer()
    try:
        yield server
    finally:
        await server.close()


def _odd_client(base_url: str, **options: Any) -> AsyncVideoAgent:
    settings: dict[str, Any] = {
        "time_scale": 0.001,
        "limits": Limits.unlimited(),
        "max_retries": 2,
        **options,
    }
    return AsyncVideoAgent(FAKE_KEY, base_url, **settings)


@pytest.fixture
def odd_client() -> Callable[..., AsyncVideoAgent]:
    """Makes a client for a base URL: fast retries, no client-side limits, the fake key."""
    return _odd_client


@pytest.fixture
def fake_key() -> str:
    """The key the odd-server clients use (to scan logs and reprs for)."""
    return FAKE_KEY


async def _settle(sim: Any, client: AsyncVideoAgent, project_id: str) -> Project:
    # Jump the simulator past any phase, then read the project as it now is.
    sim.advance(3_600)
    return await client.projects.get(project_id)


@pytest.fixture
def settle() -> Callable[[Any, AsyncVideoAgent, str], Awaitable[Project]]:
    """Moves the simulator an hour on and reads the project (idle, at a decision point)."""
    return _settle
