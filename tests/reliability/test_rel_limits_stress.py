"""The request limit holds with everything at once: polls, user calls, cancels, timeouts, faults."""

from __future__ import annotations

import random
from contextlib import suppress

import anyio
from common_helpers import REQUEST_LIMIT

from videoagent import APIError, AsyncVideoAgent, Limits, ProjectWatcher
from videoagent.simulator import Simulator

SCALE = 0.01
PROJECTS = 8
USERS = 6
CALLS = 40


async def test_no_429_of_our_own_under_cancels_timeouts_and_dropped_connections() -> None:
    """Watched projects, users whose gets are cancelled at random, short-timeout copies, and 30%
    faults (slow answers, drops, 500s, 503s): the server never counts more than 30 in a window
    and never answers ``rate_limited``."""
    rng = random.Random(1)
    async with Simulator(time_scale=SCALE, seed=3, active_limit=None) as sim:
        async with AsyncVideoAgent(
            sim.api_key, sim.base_url, time_scale=SCALE, limits=Limits(active_projects=None)
        ) as client:
            hasty = client.with_options(timeout=2.0, max_retries=1)
            ids = [
                (await client.projects.create(f"brief {n}", mode="collaborative")).id
                for n in range(PROJECTS)
            ]
            sim.set_faults(slow=0.1, drop=0.1, error_500=0.05, error_503=0.05, slow_seconds=5.0)

            async def user() -> None:
                for _ in range(CALLS):
                    caller = rng.choice([client, hasty])
                    # A user who gives up; the faults' errors do not matter here, the limit does.
                    with anyio.move_on_after(rng.uniform(0.0, 0.05)), suppress(APIError):
                        await caller.projects.get(rng.choice(ids))
                    await anyio.sleep(rng.uniform(0.0, 0.02))

            async with ProjectWatcher(client) as watcher:
                for project_id in ids:
                    watcher.watch(project_id)
                async with anyio.create_task_group() as users:
                    for _ in range(USERS):
                        users.start_soon(user)
            sim.set_faults()
        stats = sim.stats()
    assert stats.faults_injected > 0
    assert stats.max_window_requests <= REQUEST_LIMIT
    assert stats.rate_limited == 0
