"""Fixtures of the client tests: a tiny aiohttp.web server for answers the simulator never gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from videoagent import AsyncVideoAgent, Limits, Project

#: A well-formed key that no server knows; tests scan logs and reprs for it.
FAKE_KEY = "es_live_" + "Z" * 28 + "k3y9"


def _odd_client(base_url: str, **options: Any) -> AsyncVideoAgent:
    settings: dict[str, Any] = {
        "time_scale": 0.001,
        "limits": Limits.unlimited(),
        "max_retries": 2,
        # 5 real seconds: at this time scale the default (30) leaves 30 ms, too
        # little for a loopback answer on a busy machine.
        "timeout": 5_000.0,
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
