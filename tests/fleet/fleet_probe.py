"""A fleet member for the tests: told ``go`` (a line on stdin), it sends GETs through Redis limits.

    python fleet_probe.py REDIS_URL account|api-keys COUNT TIME_SCALE LEASE

The API key and base URL come from ``VIDEOAGENT_API_KEY`` and
``VIDEOAGENT_BASE_URL``. It prints ``ready`` once its fleet connection has
reached Redis, then, after its ``COUNT`` sequential calls (``client.account.get()``
or ``client.api_keys.list()``), one JSON line: ``{"asked_at": <unix seconds
of its first call>, "errors": [<error class names>]}``.
"""

from __future__ import annotations

import json
import sys
import time

import anyio

from videoagent import AsyncVideoAgent, VideoAgentError
from videoagent._wiring import wiring_of
from videoagent.fleet import FleetRuntime, RedisBackend


async def main(redis_url: str, what: str, count: int, time_scale: float, lease: float) -> None:
    """Enter a fleet client, wait for ``go``, make the calls, print the summary."""
    backend = RedisBackend(url=redis_url, lease=lease)
    async with AsyncVideoAgent(time_scale=time_scale, limits_backend=backend) as client:
        fleet = wiring_of(client).shared
        assert isinstance(fleet, FleetRuntime)
        while not fleet.epoch:  # noqa: ASYNC110 - the heartbeat's first answer sets it
            await anyio.sleep(0.005)
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        asked_at = time.time()
        errors: list[str] = []
        for _ in range(count):
            try:
                if what == "account":
                    await client.account.get()
                else:
                    await client.api_keys.list()
            except VideoAgentError as exc:
                errors.append(type(exc).__name__)
    print(json.dumps({"asked_at": asked_at, "errors": errors}), flush=True)


if __name__ == "__main__":
    url, kind, calls, scale, lease_seconds = sys.argv[1:6]
    anyio.run(main, url, kind, int(calls), float(scale), float(lease_seconds))
