"""Fixtures of the blocking client's tests: a simulator on its own thread, and a ``VideoAgent``.

The tests are plain (not async) functions, as the blocking client's users
write them; the simulator serves from a background thread
(``videoagent.testing``), so nothing here runs an event loop of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from blocking_helpers import SCALE, SEED, client_of

from videoagent import VideoAgent
from videoagent.simulator import BackgroundSimulator


@pytest.fixture
def videoagent_simulator_options() -> dict[str, Any]:
    """The plugin's simulator, at ``SCALE`` with ``SEED``."""
    return {"time_scale": SCALE, "seed": SEED}


@pytest.fixture
def blocking_client(videoagent_simulator: BackgroundSimulator) -> Iterator[VideoAgent]:
    """A ``VideoAgent`` on the simulator, closed after the test."""
    with client_of(videoagent_simulator) as client:
        yield client
