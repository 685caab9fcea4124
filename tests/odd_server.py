"""A loopback aiohttp.web server for answers the simulator never gives (odd headers, bodies)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp.web

Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]]


class OddServer:
    """A loopback aiohttp.web server with routes a test adds; it records every request."""

    def __init__(self) -> None:
        self.app = aiohttp.web.Application()
        self.requests: list[aiohttp.web.Request] = []
        self._runner: aiohttp.web.AppRunner | None = None
        self.url = ""

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``method path``."""

        async def recording(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
            self.requests.append(request)
            return await handler(request)

        self.app.router.add_route(method, path, recording)

    async def start(self) -> str:
        """Start listening; the base URL (ending in /v1)."""
        self._runner = aiohttp.web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return f"{self.url}/v1"

    async def close(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()
