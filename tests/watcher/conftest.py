"""Fixtures of the watcher's tests (scaled time, real HTTP against the simulator)."""

from __future__ import annotations

import pytest
from watch_helpers import SimFactory, simulator_factory


@pytest.fixture
def make_simulator() -> SimFactory:
    """``make_simulator(**settings)``: a fresh simulator at a small time scale, as a context."""
    return simulator_factory()
