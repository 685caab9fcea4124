"""A simulator in a child process, with any ``Simulator`` settings, for benchmarks.

``python -m videoagent.simulator`` exposes only a few settings; benchmarks
need others (durations, limits). This module is both the child
(``python -m benchmarks._simproc '<json kwargs>'``, printing
``<base_url> <api_key>`` on its first line) and the parent's helper
(``simulator_process(**kwargs)``), with small wrappers of the ``/_sim/``
control routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs

from videoagent.simulator import Simulator


@attrs.frozen
class SimProcess:
    """A running child simulator: its base URL, default key and control root."""

    base_url: str
    api_key: str

    @property
    def control(self) -> str:
        """The ``/_sim`` root (beside ``/v1``)."""
        return self.base_url.removesuffix("/v1") + "/_sim"


@contextlib.asynccontextmanager
async def simulator_process(**kwargs: Any) -> AsyncIterator[SimProcess]:
    """A simulator made with ``Simulator(**kwargs)`` in a child process, stopped afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._simproc",
        json.dumps(kwargs),
        stdout=subprocess.PIPE,
        stderr=None,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        base_url, api_key = line.decode().split()
        yield SimProcess(base_url, api_key)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def control(
    session: aiohttp.ClientSession, sim: SimProcess, method: str, route: str, **kwargs: Any
) -> Any:
    """Call a ``/_sim/`` route; its JSON answer."""
    async with session.request(method, f"{sim.control}/{route}", **kwargs) as answer:
        answer.raise_for_status()
        return await answer.json()


async def _serve(kwargs: dict[str, Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if "durations" in kwargs:
        kwargs["durations"] = {k: tuple(v) for k, v in kwargs["durations"].items()}
    async with Simulator(**kwargs) as sim:
        sys.stdout.write(f"{sim.base_url} {sim.api_key}\n")
        sys.stdout.flush()
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1])))
