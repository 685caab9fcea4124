"""The watcher's due-time heap: answers the client parses cost no heap items."""

from __future__ import annotations

import itertools

import anyio
from watch_helpers import (
    GRANULARITY,
    INTERVALS,
    SEED,
    SimFactory,
    client_for,
    create_elsewhere,
    gets,
    saturate,
    wait_polled,
)

from videoagent import Limits, ProjectWatcher
from videoagent.simulator import Simulator

#: Coarser than the other watcher tests: a loopback GET is well under an interval.
SCALE = 0.01
GETS = 500


async def test_gets_of_a_watched_project_keep_one_heap_item_and_the_cadence() -> None:
    """500 ``get``s of a watched project leave one heap item; polls then resume every interval."""
    queued = {"queued": (600.0, 600.0)}
    async with Simulator(time_scale=SCALE, seed=SEED, request_limit=None, durations=queued) as sim:
        (project_id,) = await create_elsewhere(sim, 1)
        unlimited = Limits.unlimited()
        async with client_for(sim, limits=unlimited) as client, ProjectWatcher(client) as watcher:
            watcher.watch(await client.projects.get(project_id))
            scheduler = watcher._scheduler
            sizes = set()
            for _ in range(GETS):
                await client.projects.get(project_id)
                sizes.add(scheduler.heap_size)
            assert sizes <= {0, 1}, sizes  # the old heap grew by one item per answer
            last_get = gets(sim.request_log)[project_id][-1].at
            interval = INTERVALS["queued"] * SCALE
            with anyio.fail_after(60):
                while len(_after(sim, project_id, last_get)) < 4:  # noqa: ASYNC110 - reads the log
                    await anyio.sleep(interval)
            assert scheduler.heap_size <= 1
        polls = _after(sim, project_id, last_get)
        assert polls[0] - last_get >= interval - GRANULARITY
        for earlier, later in itertools.pairwise(polls):
            assert interval - GRANULARITY <= later - earlier < 3 * interval, polls


def _after(sim: Simulator, project_id: str, since: float) -> list[float]:
    """Arrival times of the GETs of ``project_id`` after ``since`` (the watcher's polls)."""
    return [r.at for r in gets(sim.request_log)[project_id] if r.at > since]


async def test_a_storm_of_notifies_queues_a_parked_project_once(make_simulator: SimFactory) -> None:
    """1,000 notifies of a project parked behind a saturated budget queue it once; it goes next."""
    durations = {"queued": (600.0, 600.0)}  # five projects polled every 5 s: 60 a minute
    async with make_simulator(durations=durations) as sim:
        async with client_for(sim) as client, ProjectWatcher(client) as watcher:
            ids = await saturate(sim, watcher, parked=1)
            target = next(pid for pid in ids if watcher._entries[pid].parked)
            lane = watcher._entries[target].lane
            in_flight = client.statistics().requests.in_flight
            since = sim.clock.unix()
            for _ in range(1000):
                watcher.notify(target)
            assert list(lane.notified).count(watcher._entries[target]) == 1
            order = await wait_polled(sim, since, target)
            assert order.index(target) <= in_flight, order
        assert sim.stats().rate_limited == 0
