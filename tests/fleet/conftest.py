"""Fixtures of fleet mode: a real ``redis-server`` on a free loopback port.

The tests start their own ``redis-server`` (no persistence, so a restart
loses everything, the hardest case). Without the program they skip, unless
``VIDEOAGENT_REQUIRE_SYSTEM=1`` (CI) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_helpers import RedisServer, find_redis_server


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped afterwards."""
    program = find_redis_server()
    with RedisServer(program) as server:
        yield server
