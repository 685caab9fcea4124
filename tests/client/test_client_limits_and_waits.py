"""Which limit a 429 was (``kind``), and ``wait``'s options, against the simulator's answers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from videoagent import (
    AsyncVideoAgent,
    Limits,
    Project,
    ProjectFailedError,
    ProjectLimitError,
    RateLimitError,
    WaitTimeoutError,
)
from videoagent.simulator import Simulator

SCALE = 0.005
#: Phases a few contract seconds long: a whole run is about 50-115 contract seconds.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}


def client_of(sim: Simulator, **options: Any) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale."""
    return AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale, **options)


@pytest.fixture
async def fast_simulator() -> AsyncIterator[Simulator]:
    """A simulator whose projects finish in well under a second."""
    async with Simulator(time_scale=SCALE, seed=5, durations=FAST) as sim:
        yield sim


# -- which limit -----------------------------------------------------------------------


async def test_the_sixth_active_project_is_a_concurrent_project_limit() -> None:
    """The server's 429 for a sixth active project has ``kind == "concurrent"``."""
    async with (
        Simulator(time_scale=SCALE, seed=5) as sim,
        client_of(sim, limits=Limits(active_projects=None), max_retries=0) as client,
    ):
        for i in range(5):
            await client.projects.create(f"p{i}")
        with pytest.raises(ProjectLimitError) as info:
            await client.projects.create("sixth")
    assert info.value.kind == "concurrent"


async def test_the_daily_project_limit_is_a_daily_project_limit() -> None:
    """The server's 429 past the projects of a day has ``kind == "daily"``."""
    async with (
        Simulator(time_scale=SCALE, seed=5, projects_per_day=2) as sim,
        client_of(sim) as client,
    ):
        for i in range(2):
            await client.projects.create(f"p{i}")
        with pytest.raises(ProjectLimitError) as info:
            await client.projects.create("third today")
    assert info.value.kind == "daily"
    assert sim.stats().projects_created == 2


async def test_too_many_requests_is_a_requests_rate_limit() -> None:
    """The server's 429 past the requests of its window has ``kind == "requests"``."""
    async with (
        Simulator(time_scale=SCALE, seed=5, request_limit=3) as sim,
        client_of(sim, limits=Limits.unlimited(), max_retries=0) as client,
    ):
        for _ in range(3):
            await client.account.get()
        with pytest.raises(RateLimitError) as info:
            await client.account.get()
    assert info.value.kind == "requests"


async def test_the_daily_render_limit_is_a_renders_daily_rate_limit() -> None:
    """The server's 429 past the renders of a day has ``kind == "renders_daily"``, and is
    raised at once (its Retry-After runs to midnight)."""
    async with (
        Simulator(time_scale=SCALE, seed=5, durations=FAST, renders_per_day=1) as sim,
        client_of(sim) as client,
    ):
        project = await client.projects.create("a teaser")
        await client.projects.wait(project.id)
        await client.projects.render(project.id)
        await client.projects.wait(project.id)
        with pytest.raises(RateLimitError) as info:
            await client.projects.render(project.id)
    assert info.value.kind == "renders_daily"
    assert sim.stats().renders_started == 1


# -- wait's options ------------------------------------------------------------------------


async def test_raise_on_failure_raises_project_failed_with_the_reason(
    fast_simulator: Simulator,
) -> None:
    """A project that ends failed (or cancelled) makes ``wait(raise_on_failure=True)`` raise
    ProjectFailedError carrying the project and its error message (a plain wait returns it)."""
    sim = fast_simulator
    async with client_of(sim) as client:
        project = await client.projects.create("doomed")
        sim.fail_project(project.id)
        with pytest.raises(ProjectFailedError) as info:
            await client.projects.wait(project.id, raise_on_failure=True)
        plain = await client.projects.wait(project.id)
        stopped = await client.projects.create("stopped")
        await client.projects.cancel(stopped.id)
        with pytest.raises(ProjectFailedError) as cancelled:
            await client.projects.wait(stopped.id, raise_on_failure=True)
    assert cancelled.value.project.status.value == "cancelled"
    assert info.value.project.id == project.id
    assert info.value.project.status.value == "failed"
    assert info.value.error_message
    assert info.value.error_message == info.value.project.error_message == plain.error_message
    assert info.value.error_message in str(info.value)


async def test_cancel_on_timeout_cancels_then_raises() -> None:
    """Past its timeout, ``wait(cancel_on_timeout=True)`` cancels the project (the simulator
    shows it cancelled, its slot is free) and raises WaitTimeoutError."""
    async with (
        Simulator(time_scale=SCALE, seed=5, durations={"queued": (600, 600)}) as sim,
        client_of(sim) as client,
    ):
        project = await client.projects.create("too slow")
        with pytest.raises(WaitTimeoutError):
            await client.projects.wait(project.id, timeout=20, cancel_on_timeout=True)
        slots = client.statistics().slots
        (snapshot,) = sim.projects()
    assert snapshot.status == "cancelled"
    assert (slots.held, slots.pending, slots.placeholders) == (0, 0, 0)


async def test_on_update_takes_plain_and_async_functions_and_survives_one_that_raises(
    fast_simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """``wait(on_update=...)`` calls a plain and an async function with each status change
    (the same ones, ending idle); one that raises is logged and its wait goes on."""
    plain: list[str] = []
    awaited: list[str] = []

    async def async_update(project: Project) -> None:
        await anyio.lowlevel.checkpoint()
        awaited.append(project.status.value)

    def broken(project: Project) -> None:
        raise ValueError(f"a bug in the user's callback at {project.status.value}")

    async with client_of(fast_simulator) as client:
        project = await client.projects.create("a teaser")
        results: list[Project] = []

        async def wait_with(on_update: Any) -> None:
            results.append(await client.projects.wait(project.id, on_update=on_update))

        async with anyio.create_task_group() as group:
            group.start_soon(wait_with, lambda p: plain.append(p.status.value))
            group.start_soon(wait_with, async_update)
            group.start_soon(wait_with, broken)
    assert [p.status.value for p in results] == ["idle"] * 3
    assert plain == awaited
    assert len(plain) >= 2
    assert plain[-1] == "idle"
    assert all(a != b for a, b in itertools.pairwise(plain))
    raised = [r for r in caplog.records if "on_update callback raised" in r.message]
    assert len(raised) == len(plain)
    assert all(r.levelno == logging.ERROR for r in raised)
