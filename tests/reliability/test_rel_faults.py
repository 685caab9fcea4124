"""A batch through the issue's fault mix still ends with every video verified, once each."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from common_helpers import ACTIVE_LIMIT, REQUEST_LIMIT
from rel_helpers import FAST, FAULT_MIX, SCALE, bad_videos

from videoagent import AsyncVideoAgent
from videoagent.batch import run_batch
from videoagent.simulator import Simulator

BRIEFS = 12


async def test_a_batch_survives_faults_with_no_duplicate_and_no_limit_broken(
    tmp_path: Path,
) -> None:
    """12 briefs (some collaborative) through 35% faults: all verified, one project each, no 429."""
    async with Simulator(time_scale=SCALE, seed=21, durations=FAST) as sim:
        sim.set_faults(FAULT_MIX)
        briefs = [
            {"brief": f"teaser {n}: a 20 s clip", "mode": "collaborative" if n % 4 == 0 else None}
            for n in range(BRIEFS)
        ]
        briefs = [{k: v for k, v in b.items() if v is not None} for b in briefs]
        async with AsyncVideoAgent(
            sim.api_key, sim.base_url, time_scale=SCALE, max_retries=10
        ) as client:
            summary = await run_batch(briefs, out=tmp_path / "out", client=client)
        stats = sim.stats()
        snapshots = sim.projects()
        log = list(sim.request_log)
    assert [o.state for o in summary.done].count("done") == BRIEFS, summary.failed
    assert not summary.failed
    assert not summary.pending
    assert bad_videos(summary.done, tmp_path / "out") == []
    # one project per brief, and every brief has its project
    assert len(snapshots) == BRIEFS
    assert sorted(s.brief for s in snapshots) == sorted(b["brief"] for b in briefs)
    assert len({s.idempotency_key for s in snapshots}) == BRIEFS
    # the limits held: no window over 30, never over 5 active, and no 429 of our making
    assert stats.max_window_requests <= REQUEST_LIMIT
    assert stats.max_active_projects <= ACTIVE_LIMIT
    assert (stats.rate_limited, stats.project_limit) == (0, 0)
    # and the faults really happened, of every kind
    kinds = Counter(r.fault for r in log if r.fault is not None)
    assert set(kinds) == {"error_500", "error_503", "drop", "slow", "truncate", "non_json"}
    assert sum(kinds.values()) >= 0.2 * len(log)
