"""Reliability fixtures: a loopback server for answers the simulator never gives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rel_helpers import OddServer


@pytest.fixture
async def odd_server() -> AsyncIterator[OddServer]:
    """A loopback server whose routes the test adds."""
    server = OddServer()
    try:
        yield server
    finally:
        await server.close()
