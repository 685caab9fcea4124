"""Four real worker processes share one simulator account through a real redis-server."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc
import pytest
from common_helpers import until
from fleet_helpers import (
    FAST,
    SCALE,
    RedisServer,
    check_account,
    check_files,
    start_worker,
    summary_of,
    write_briefs,
)

from videoagent.simulator import Simulator

WORKERS = 4
BRIEFS = 20


@pytest.fixture
async def shared_simulator() -> AsyncIterator[Simulator]:
    """A simulator that outlives the workers: short phases, 100x faster, seeded."""
    async with Simulator(time_scale=SCALE, seed=7, durations=FAST) as sim:
        yield sim


def _in_progress(journal: Path) -> dict[int, str]:
    """Briefs a worker's journal shows created but not done: index -> project id."""
    if not journal.exists():
        return {}
    try:
        with sqlite3.connect(journal) as db:
            rows = db.execute(
                "SELECT idx, project_id FROM briefs"
                " WHERE state = 'created' AND project_id IS NOT NULL"
            ).fetchall()
    except sqlite3.OperationalError:  # the worker is still creating it
        return {}
    return dict(rows)


async def test_four_workers_share_the_limits_and_the_briefs(
    redis_server: RedisServer, shared_simulator: Simulator, tmp_path: Path
) -> None:
    """Across 4 workers: at most 30 requests a sliding minute, 5 active, no 429, each brief once."""
    sim = shared_simulator
    out = tmp_path / "out"
    workers = await _start_workers(redis_server, sim, tmp_path, out)
    summaries = [await summary_of(w) for w in workers]
    assert [w.returncode for w in workers] == [0] * WORKERS
    check_account(sim, BRIEFS)
    check_files(out, summaries, BRIEFS)
    assert sum(1 for s in summaries if s["counts"]["done"]) >= 2  # the work was shared


async def test_a_killed_workers_projects_are_finished_by_the_others(
    redis_server: RedisServer, shared_simulator: Simulator, tmp_path: Path
) -> None:
    """SIGKILL one worker mid-run: the others take over its projects and finish every brief."""
    sim = shared_simulator
    out = tmp_path / "out"
    workers = await _start_workers(redis_server, sim, tmp_path, out)
    journals = [tmp_path / f"journal-{i}.sqlite" for i in range(WORKERS)]
    await until(lambda: any(_in_progress(journal) for journal in journals))
    victim = next(i for i, journal in enumerate(journals) if _in_progress(journal))
    workers[victim].send_signal(signal.SIGKILL)
    await workers[victim].wait()
    victim_journal = journals[victim]
    orphans = _in_progress(victim_journal)
    survivors = [w for i, w in enumerate(workers) if i != victim]
    summaries = [await summary_of(w) for w in survivors]
    assert [w.returncode for w in survivors] == [0] * (WORKERS - 1)
    done = {o["index"]: o for s in summaries for o in s["done"]}
    victim_done = {o["index"] for o in _done_in_journal(victim_journal)}
    assert set(done) | victim_done == set(range(BRIEFS))
    assert orphans
    for index, project_id in orphans.items():
        assert done[index]["project_id"] == project_id  # resumed, not created again
    check_account(sim, BRIEFS)


def _done_in_journal(journal: Path) -> list[dict[str, object]]:
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT idx FROM briefs WHERE state = 'done'").fetchall()
    return [{"index": index} for (index,) in rows]


async def test_a_redis_restart_mid_run_loses_nothing_and_holds_the_limits(
    redis_server: RedisServer, shared_simulator: Simulator, tmp_path: Path
) -> None:
    """Redis restarted empty mid-run: the batch still finishes, within the limits, no 429."""
    sim = shared_simulator
    out = tmp_path / "out"
    workers = await _start_workers(redis_server, sim, tmp_path, out)
    await until(lambda: len(sim.projects()) >= 6)
    await anyio.to_thread.run_sync(redis_server.restart)
    summaries = [await summary_of(w) for w in workers]
    assert [w.returncode for w in workers] == [0] * WORKERS
    check_account(sim, BRIEFS)
    check_files(out, summaries, BRIEFS)
    assert any(s["fleet"]["epochs"] for s in summaries)  # they noticed the loss


async def _start_workers(
    redis_server: RedisServer, sim: Simulator, tmp_path: Path, out: Path
) -> list[anyio.abc.Process]:
    """``WORKERS`` workers of one batch of ``BRIEFS`` briefs, writing into ``out``."""
    briefs = write_briefs(tmp_path, BRIEFS)
    return [
        await start_worker(i, briefs, out, redis_url=redis_server.url, sim=sim)
        for i in range(WORKERS)
    ]
