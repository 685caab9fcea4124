"""Helpers of the watcher's tests: simulators at a small time scale, log readers."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import anyio

from videoagent import AsyncVideoAgent, Limits, ProjectWatcher
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


async def wait_polled(sim: Simulator, since: float, project_id: str) -> list[str]:
    """Wait (30 s at most) for a GET of ``project_id`` since ``since``; ``polled_after`` then."""
    with anyio.fail_after(30):
        while project_id not in polled_after(sim, since):  # noqa: ASYNC110 - reads the log
            await anyio.sleep(sim.time_scale)
    return polled_after(sim, since)


async def saturate(sim: Simulator, watcher: ProjectWatcher, *, parked: int) -> list[str]:
    """Watch five projects (made elsewhere) that poll 60 times a minute, over the budget's 30.

    Returns their ids once ``parked`` of them wait for the budget (the
    simulator must keep them queued, e.g. ``durations={"queued": (600.0, 600.0)}``).
    """
    ids = await create_elsewhere(sim, 5)
    for project_id in ids:
        watcher.watch(project_id)
    with anyio.fail_after(30):
        while watcher.statistics().parked < parked:  # noqa: ASYNC110 - scaled time
            await anyio.sleep(sim.time_scale)
    return ids


def status_at(history: Iterable[tuple[str, float]], at: float) -> str:
    """The status a project had at unix time ``at`` (from its simulator history)."""
    current = "queued"
    for status, since in history:
        if since > at:
            break
        current = status
    return current
