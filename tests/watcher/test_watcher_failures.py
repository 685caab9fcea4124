"""The watcher when things go wrong: failing projects, deadlines, unwatch, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
from watch_helpers import SimFactory, client_for, create_elsewhere, gets

from videoagent import Limits, ProjectWatcher
from videoagent._errors import (
    APIStatusError,
    NotFoundError,
    WaitTimeoutError,
    WatchStoppedError,
)
from videoagent._events import WatchEvent, WatchFailed

MISSING = "prj_doesnotexist0000"


async def test_a_failing_project_does_not_disturb_twenty_others(
    make_simulator: SimFactory,
) -> None:
    """A 404 and a project whose every GET answers 500 end their watches; 20 others finish."""
    async with make_simulator(active_limit=None, request_limit=None) as sim:
        ids = await create_elsewhere(sim, 21)
        broken, healthy = ids[0], ids[1:]
        sim.set_faults(error_500=1.0, only=f"GET /v1/projects/{broken}")
        unlimited = Limits.unlimited()
        async with (
            client_for(sim, limits=unlimited, max_retries=1) as client,
            ProjectWatcher(client) as watcher,
        ):
            failures: list[WatchEvent] = []
            for project_id in [MISSING, *ids]:
                watcher.watch(project_id, on_event=_collect_failures(failures))
            with pytest.raises(NotFoundError):
                await watcher.wait(MISSING)
            with pytest.raises(APIStatusError) as raised:
                await watcher.wait(broken)
            assert raised.value.status == 500
            for project_id in healthy:
                assert (await watcher.wait(project_id)).status.value == "idle"
            assert {e.project_id for e in failures} == {MISSING, broken}
            assert watcher.statistics().watched == len(healthy)
        polls = gets(sim.request_log)
        # 5 failed polls of 2 attempts each, then nothing more.
        assert len(polls[broken]) == 2 * 5
        assert len(polls[MISSING]) == 1


def _collect_failures(into: list[WatchEvent]) -> Callable[[WatchEvent], None]:
    def collect(event: WatchEvent) -> None:
        if isinstance(event, WatchFailed):
            into.append(event)

    return collect


async def test_wait_with_a_timeout_raises_and_stops_polling(make_simulator: SimFactory) -> None:
    """Past its deadline ``wait`` raises ``WaitTimeoutError`` and the project is polled no more."""
    async with make_simulator(durations={"queued": (600.0, 600.0)}) as sim:
        (project_id,) = await create_elsewhere(sim, 1)
        async with client_for(sim) as client:
            with pytest.raises(WaitTimeoutError) as raised:
                await client.projects.wait(project_id, timeout=20)
            assert raised.value.project_id == project_id
            watcher = client.watcher
            assert watcher.statistics().watched == 0
            await anyio.wait_all_tasks_blocked()  # a poll sent before the end lands first
            polls = len(gets(sim.request_log)[project_id])
            assert 3 <= polls <= 6  # at 0, 5, 10, 15 (20) contract seconds
            await anyio.sleep(20 * sim.time_scale)
            assert len(gets(sim.request_log)[project_id]) == polls


async def test_a_timed_out_wait_leaves_a_watched_project_watched(
    make_simulator: SimFactory,
) -> None:
    """A ``wait`` timing out ends only itself: a project the user watches keeps being polled."""
    async with make_simulator(durations={"queued": (600.0, 600.0)}) as sim:
        (project_id,) = await create_elsewhere(sim, 1)
        async with client_for(sim) as client, ProjectWatcher(client) as watcher:
            watcher.watch(project_id)
            with pytest.raises(WaitTimeoutError):
                await watcher.wait(project_id, timeout=10)
            polls = len(gets(sim.request_log)[project_id])
            await anyio.sleep(20 * sim.time_scale)
            assert len(gets(sim.request_log)[project_id]) > polls
            assert watcher.statistics().watched == 1


async def test_unwatch_ends_waits_and_polling(make_simulator: SimFactory) -> None:
    """``unwatch`` makes a pending ``wait`` raise ``WatchStoppedError`` and stops the polls."""
    async with make_simulator(durations={"queued": (600.0, 600.0)}) as sim:
        (project_id,) = await create_elsewhere(sim, 1)
        async with client_for(sim) as client, ProjectWatcher(client) as watcher:
            watcher.watch(project_id)
            outcome: list[BaseException] = []

            async def waiter() -> None:
                try:
                    await watcher.wait(project_id)
                except WatchStoppedError as exc:
                    outcome.append(exc)

            async with anyio.create_task_group() as group:
                group.start_soon(waiter)
                await anyio.sleep(12 * sim.time_scale)
                watcher.unwatch(project_id)
            assert len(outcome) == 1
            await anyio.wait_all_tasks_blocked()  # a poll sent before the end lands first
            polls = len(gets(sim.request_log)[project_id])
            await anyio.sleep(20 * sim.time_scale)
            assert len(gets(sim.request_log)[project_id]) == polls
            assert watcher.statistics().watched == 0
            watcher.unwatch(project_id)  # unknown ids are ignored


async def test_cancelling_the_watcher_leaves_no_task_behind(make_simulator: SimFactory) -> None:
    """Cancelled mid-flight with polls parked and in flight, nothing of the watcher stays."""
    async with make_simulator(durations={"queued": (600.0, 600.0)}) as sim:
        ids = await create_elsewhere(sim, 5)
        before = asyncio.all_tasks()
        async with client_for(sim) as client:
            with anyio.move_on_after(40 * sim.time_scale) as scope:
                async with ProjectWatcher(client) as watcher:
                    for project_id in ids:
                        watcher.watch(project_id)
                    async with anyio.create_task_group() as group:
                        for project_id in ids:
                            group.start_soon(watcher.wait, project_id)
                        async for _ in watcher.events():
                            pass
            assert scope.cancelled_caught
            assert watcher.statistics().watched == 0
            with pytest.raises(RuntimeError):
                watcher.watch(ids[0])
        await anyio.lowlevel.checkpoint()
        assert asyncio.all_tasks() <= before  # (a task of the creator may have ended since)
        assert len(gets(sim.request_log)) == 5
