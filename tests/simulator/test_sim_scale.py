"""Scale: thousands of accounts are cheap, and many projects advance without a task each."""

from __future__ import annotations

import asyncio
import time

from sim_helpers import MakeApi


async def test_thousands_of_accounts_and_projects(make_api: MakeApi) -> None:
    """2,000 accounts in well under a second; 2,000 projects across them all reach idle."""
    sim, api = await make_api(time_scale=0.01)
    started = time.perf_counter()
    keys = [sim.add_account() for _ in range(2_000)]
    assert time.perf_counter() - started < 1.0
    gate = asyncio.Semaphore(32)

    async def create(key: str) -> None:
        async with gate:
            await api.as_key(key).create()

    await asyncio.gather(*(create(key) for key in keys))
    sim.advance(1_500)
    snapshots = sim.projects()
    assert len(snapshots) == 2_000
    assert {s.status for s in snapshots} == {"idle"}
    stats = sim.stats()
    assert (stats.accounts, stats.projects_created, stats.max_active_projects) == (2_001, 2_000, 1)
    assert len(asyncio.all_tasks()) < 50  # no task per project
