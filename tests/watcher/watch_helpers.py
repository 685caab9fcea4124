"""Helpers of the watcher's tests: simulators at a small time scale, log readers."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from videoagent import AsyncVideoAgent, Limits
from videoagent.simulator import RequestRecord, Simulator

#: 5 contract seconds become 10 ms: a whole project lifecycle in about a second.
SCALE = 0.002
SEED = 11
#: The contract's intervals, contract seconds (generating: its low end).
INTERVALS = {"queued": 5.0, "running": 30.0, "generating": 30.0, "rendering": 30.0}
#: Clock granularity allowed between two arrivals, real seconds.
GRANULARITY = 0.0005

SimFactory = Callable[..., contextlib.AbstractAsyncContextManager[Simulator]]


@contextlib.asynccontextmanager
async def _make(**settings: Any) -> AsyncIterator[Simulator]:
    async with Simulator(time_scale=SCALE, seed=SEED, **settings) as sim:
        yield sim


def simulator_factory() -> SimFactory:
    """``make(**settings)``: a simulator at ``SCALE`` with ``SEED``, as a context."""
    return _make


def client_for(sim: Simulator, key: str | None = None, **kwargs: Any) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale (the default account unless ``key``)."""
    return AsyncVideoAgent(key or sim.api_key, sim.base_url, time_scale=sim.time_scale, **kwargs)


async def create_elsewhere(
    sim: Simulator, n: int, *, key: str | None = None, **create: Any
) -> list[str]:
    """Create ``n`` projects through a throwaway client (so no other watcher tracks them)."""
    limits = Limits(active_projects=None) if sim.settings.active_limit is None else Limits()
    async with client_for(sim, key, limits=limits) as creator:
        return [(await creator.projects.create(f"brief {i}", **create)).id for i in range(n)]


def gets(log: Iterable[RequestRecord]) -> dict[str, list[RequestRecord]]:
    """``GET /v1/projects/{id}`` requests by project id, in arrival order."""
    found: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in log:
        parts = record.path.split("/")
        if record.method == "GET" and len(parts) == 4 and parts[2] == "projects":
            found[parts[3]].append(record)
    return found


def polled_after(sim: Simulator, since: float) -> list[str]:
    """The ids of the projects GET since unix time ``since``, in arrival order."""
    return [r.path.split("/")[3] for r in sim.request_log if r.at >= since and r.method == "GET"]


def status_at(history: Iterable[tuple[str, float]], at: float) -> str:
    """The status a project had at unix time ``at`` (from its simulator history)."""
    current = "queued"
    for status, since in history:
        if since > at:
            break
        current = status
    return current


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` inside any half-open window of ``window`` seconds."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
