"""The watcher within the account's limits: windows, slots, intervals, notify."""

from __future__ import annotations

import itertools

import anyio
from common_helpers import REQUEST_LIMIT, max_in_window
from watch_helpers import (
    GRANULARITY,
    INTERVALS,
    SimFactory,
    client_for,
    create_elsewhere,
    gets,
    saturate,
    status_at,
    wait_polled,
)

from videoagent import ProjectWatcher
from videoagent.simulator import Simulator


def assert_intervals_respected(sim: Simulator) -> int:
    """Every two consecutive GETs of a project are at least its status interval apart.

    Returns how many pairs were checked.
    """
    histories = {p.id: p.history for p in sim.projects()}
    pairs = 0
    for project_id, records in gets(sim.request_log).items():
        for earlier, later in itertools.pairwise(records):
            status = status_at(histories[project_id], earlier.at)
            need = INTERVALS.get(status, 0.0) * sim.time_scale
            assert later.at - earlier.at >= need - GRANULARITY, (project_id, status, earlier, later)
            pairs += 1
    return pairs


async def test_a_batch_through_five_slots_keeps_every_limit(make_simulator: SimFactory) -> None:
    """Twelve briefs at once: no 429, never over 30 in a window or 5 active, every interval kept."""
    async with make_simulator() as sim, client_for(sim) as client:
        done = []

        async def one(n: int) -> None:
            project = await client.projects.create(f"brief {n}")
            done.append(await client.projects.wait(project.id))

        async with anyio.create_task_group() as group:
            for n in range(12):
                group.start_soon(one, n)

        assert [p.status.value for p in done] == ["idle"] * 12
        stats = sim.stats()
        assert stats.rate_limited == 0
        assert stats.project_limit == 0
        assert stats.max_active_projects == 5
        assert stats.max_window_requests <= REQUEST_LIMIT
        counted = [r.at for r in sim.request_log if r.counted]
        assert max_in_window(counted, 60 * sim.time_scale) <= REQUEST_LIMIT
        assert assert_intervals_respected(sim) > 12 * 4


async def test_polls_keep_the_status_intervals_when_the_budget_is_free(
    make_simulator: SimFactory,
) -> None:
    """Three projects with no limit pressure: every gap between polls is at least the interval."""
    async with make_simulator() as sim:
        ids = await create_elsewhere(sim, 3)
        async with client_for(sim) as client, ProjectWatcher(client) as watcher:
            for project_id in ids:
                watcher.watch(project_id)
            for project_id in ids:
                assert (await watcher.wait(project_id)).status.value == "idle"
        assert assert_intervals_respected(sim) >= 3 * 4
        assert sim.stats().rate_limited == 0


async def test_two_watchers_of_one_client_do_not_poll_a_project_twice(
    make_simulator: SimFactory,
) -> None:
    """A user's watcher beside the client's shared watcher: one poll per interval, not two."""
    async with make_simulator() as sim, client_for(sim) as client:
        async with ProjectWatcher(client) as watcher:
            project = await client.projects.create("watched twice")  # the shared watcher tracks it
            watcher.watch(project)
            shared = client.projects.wait(project.id)
            assert (await watcher.wait(project.id)).status.value == "idle"
            assert (await shared).status.value == "idle"
        assert assert_intervals_respected(sim) >= 4


async def test_notify_goes_ahead_of_due_routine_polls(make_simulator: SimFactory) -> None:
    """With the budget saturated by five queued projects, a notified one is polled next."""
    durations = {"queued": (600.0, 600.0)}  # five projects polled every 5 s: 60 a minute
    async with make_simulator(durations=durations) as sim:
        async with client_for(sim) as client, ProjectWatcher(client) as watcher:
            ids = await saturate(sim, watcher, parked=3)
            polled_before = {pid: len(r) for pid, r in gets(sim.request_log).items()}
            # The project whose routine poll is furthest away: it is due last.
            target = min(ids, key=lambda pid: polled_before.get(pid, 0))
            in_flight = client.statistics().requests.in_flight
            parked = watcher.statistics().parked
            since = sim.clock.unix()
            watcher.notify(target)
            order = await wait_polled(sim, since, target)
            assert order.index(target) <= in_flight, order
            assert parked >= 1  # routine polls were due, waiting for the budget
        assert sim.stats().rate_limited == 0


async def test_a_notify_naming_a_status_already_seen_costs_no_request(
    make_simulator: SimFactory,
) -> None:
    """``notify(id, status="queued")`` right after the create's own answer sends nothing."""
    durations = {"queued": (600.0, 600.0)}
    async with (
        make_simulator(durations=durations) as sim,
        client_for(sim) as client,
        ProjectWatcher(client) as watcher,
    ):
        project = await client.projects.create("hooked")
        watcher.watch(project)
        watcher.notify(project.id, status="queued")
        await anyio.sleep(4 * sim.time_scale)  # under the 5 s queued interval
        assert project.id not in gets(sim.request_log)
        watcher.notify(project.id, status="running")  # news: polled at once
        with anyio.fail_after(10):
            while project.id not in gets(sim.request_log):  # noqa: ASYNC110 - reads the log
                await anyio.sleep(sim.time_scale)
