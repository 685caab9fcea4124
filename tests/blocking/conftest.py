"""Fixtures of the blocking client's tests: a simulator on its own thread, and a ``VideoAgent``.

The tests are plain (not async) functions, as the blocking client's users
write them; the simulator serves from a background thread
(``videoagent.testing``), so nothing here runs an event loop of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from videoagent import VideoAgent
from videoagent.simulator import BackgroundSimulator

#: 5 contract seconds become 10 ms: a project's whole life in about a second.
SCALE = 0.002
SEED = 11
#: Contract seconds one attempt may take: 5 real seconds at ``SCALE`` (a busy
#: machine answers on loopback in real milliseconds, not scaled ones).
TIMEOUT = 2500.0


@pytest.fixture
def videoagent_simulator_options() -> dict[str, Any]:
    """The plugin's simulator, at ``SCALE`` with ``SEED``."""
    return {"time_scale": SCALE, "seed": SEED}


def client_of(sim: BackgroundSimulator, key: str | None = None, **options: Any) -> VideoAgent:
    """A ``VideoAgent`` of ``sim`` (its default account unless ``key``), on its time scale."""
    settings: dict[str, Any] = {"time_scale": sim.time_scale, "timeout": TIMEOUT, **options}
    return VideoAgent(key or sim.api_key, sim.base_url, **settings)


@pytest.fixture
def blocking_client(videoagent_simulator: BackgroundSimulator) -> Iterator[VideoAgent]:
    """A ``VideoAgent`` on the simulator, closed after the test."""
    with client_of(videoagent_simulator) as client:
        yield client
