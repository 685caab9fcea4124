"""Credits: the pre-flight counts replies; a run never strands started briefs for new ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from batch_helpers import FAST, SCALE

from videoagent import AsyncVideoAgent
from videoagent.batch import BatchCreditsError, BatchRunner, BriefUpdate
from videoagent.simulator import Simulator


@pytest.fixture
async def three_decisions() -> AsyncIterator[Simulator]:
    """A fast simulator whose collaborative projects stop at exactly three decision points."""
    async with Simulator(time_scale=SCALE, seed=5, durations=FAST, decision_points=(3, 3)) as sim:
        yield sim


@pytest.fixture
async def one_decision() -> AsyncIterator[Simulator]:
    """A fast simulator whose collaborative projects stop at exactly one decision point."""
    async with Simulator(time_scale=SCALE, seed=5, durations=FAST, decision_points=(1, 1)) as sim:
        yield sim


async def test_preflight_counts_a_reply_per_collaborative_brief(
    one_decision: Simulator, tmp_path: Path
) -> None:
    """100 credits cannot cover two collaborative briefs (2 x 50 + 2 x 10): nothing is sent."""
    key = one_decision.add_account(credits=100)
    async with AsyncVideoAgent(key, one_decision.base_url, time_scale=SCALE) as client:
        runner = BatchRunner(client, out=tmp_path, mode="collaborative", retries=0)
        with pytest.raises(BatchCreditsError, match="needs 120") as info:
            await runner.run(["a collaborative teaser", "a collaborative loop"])
    assert (info.value.credits, info.value.needed) == (100, 120)
    assert "collaborative" in str(info.value)
    assert one_decision.projects(key) == ()


async def test_partial_collaborative_run_finishes_what_it_starts(
    one_decision: Simulator, tmp_path: Path
) -> None:
    """With allow_partial, 100 credits start one collaborative brief, which is done."""
    key = one_decision.add_account(credits=100)
    async with AsyncVideoAgent(key, one_decision.base_url, time_scale=SCALE) as client:
        runner = BatchRunner(
            client, out=tmp_path, mode="collaborative", retries=0, allow_partial=True
        )
        summary = await runner.run(["a collaborative teaser", "a collaborative loop"])
    (done,) = summary.done
    assert (done.index, done.replies, summary.failed) == (0, 1, ())
    assert [p.index for p in summary.skipped] == [1]
    assert [p.status for p in one_decision.projects(key)] == ["idle"]
    assert one_decision.account(key)["credits"] == 40


async def test_run_stops_creating_before_it_strands_started_briefs(
    three_decisions: Simulator, tmp_path: Path
) -> None:
    """A third project that would leave no credits for its replies is left for the next run."""
    key = three_decisions.add_account(credits=210)  # the pre-flight's 3 x 60 = 180 pass
    updates: list[BriefUpdate] = []
    async with AsyncVideoAgent(key, three_decisions.base_url, time_scale=SCALE) as client:
        runner = BatchRunner(
            client,
            out=tmp_path,
            mode="collaborative",
            retries=0,
            concurrency=1,
            on_update=updates.append,
        )
        summary = await runner.run(["one", "two", "three"])
    assert [o.index for o in summary.done] == [0, 1]
    assert [o.replies for o in summary.done] == [3, 3]
    assert (summary.failed, summary.pending) == ((), ())
    (skip,) = summary.skipped
    assert skip.index == 2
    assert "credits ran low" in skip.message
    assert [(u.state, u.detail) for u in updates if u.index == 2] == [
        ("stopped", "credits ran low: left for the next run")
    ]
    projects = three_decisions.projects(key)
    assert [(p.status, p.has_result) for p in projects] == [("idle", True), ("idle", True)]
    assert three_decisions.account(key)["credits"] == 50
    assert summary.exit_code == 1
