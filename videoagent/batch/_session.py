"""A client whose HTTP requests are counted (for the summary's ``requests``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from videoagent._client import AsyncVideoAgent
from videoagent._config import (
    PollPolicy,
    resolve_api_key,
    resolve_base_url,
    resolve_time_scale,
    timeout_for_scale,
)
from videoagent._transport import new_session

__all__ = ["RequestCounter", "counted_client"]


class RequestCounter:
    """Counts the requests an aiohttp session sends: to the API, and everything else.

    Every attempt counts (a retry is a request); downloads of pre-signed URLs
    (another origin) count in ``downloads``.
    """

    def __init__(self, base_url: str) -> None:
        self._origin = URL(base_url).origin()
        self.api = 0
        self.downloads = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        """A trace config to give the session."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._started)
        return config

    async def _started(
        self, session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
    ) -> None:
        if params.url.origin() == self._origin:
            self.api += 1
        else:
            self.downloads += 1

    def __call__(self) -> int:
        """API requests so far."""
        return self.api


@contextlib.asynccontextmanager
async def counted_client(
    api_key: str | None = None,
    base_url: str | None = None,
    **options: Any,
) -> AsyncGenerator[tuple[AsyncVideoAgent, RequestCounter], None]:
    """An entered ``AsyncVideoAgent`` on a session that counts its requests.

    ``options`` go to the client; ``poll_policy`` defaults to the contract's
    intervals without message fetching (a batch needs only the statuses), and
    ``timeout`` to 30 contract seconds but at least 5 real ones.
    """
    key, url = resolve_api_key(api_key), resolve_base_url(base_url)
    options["time_scale"] = scale = resolve_time_scale(options.get("time_scale"))
    options.setdefault("poll_policy", PollPolicy(messages=False))
    options.setdefault("timeout", timeout_for_scale(scale))
    counter = RequestCounter(url)
    session = new_session(trace_configs=[counter.trace_config()])
    try:
        async with AsyncVideoAgent(key, url, session=session, **options) as client:
            yield client, counter
    finally:
        await session.close()
