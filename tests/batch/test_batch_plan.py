"""What the account's plan cannot do: found before credits are spent, or kept safe when refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from batch_helpers import SCALE, requests_to, set_plan, sha256_of

from videoagent import AsyncVideoAgent
from videoagent.batch import (
    JOURNAL_NAME,
    BatchRunner,
    BriefFileError,
    BriefUpdate,
    RequestCounter,
)
from videoagent.simulator import Simulator

Counted = tuple[AsyncVideoAgent, RequestCounter]
BRIEFS = [{"brief": "a big screen teaser", "name": "big", "render": "4k"}, "a small loop"]
ACTIVE = ("queued", "running", "generating", "rendering")


async def test_4k_without_pro_is_found_before_anything_is_spent(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A new brief asking for 4K on a free account is refused by the pre-flight: nothing created."""
    client, counter = counted
    runner = BatchRunner(client, out=tmp_path, count_requests=counter)
    with pytest.raises(BriefFileError) as info:
        await runner.run(BRIEFS)
    (problem,) = info.value.problems
    assert str(problem) == (
        "brief 1: render 4k needs the Pro plan, and the account is on the free plan"
    )
    assert fast_simulator.projects() == ()
    assert [(r.method, r.path) for r in fast_simulator.request_log] == [("GET", "/v1/account")]


async def test_4k_without_pro_is_skipped_with_skip_invalid(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """With skip_invalid the other briefs run and the 4K one is listed as skipped, unspent."""
    client, counter = counted
    runner = BatchRunner(client, out=tmp_path, count_requests=counter, skip_invalid=True)
    summary = await runner.run(BRIEFS)
    assert [o.index for o in summary.done] == [1]
    assert [(p.index, p.where) for p in summary.skipped] == [(0, "brief 1")]
    assert "needs the Pro plan" in summary.skipped[0].message
    assert summary.credits_used == 50
    assert [p.brief for p in fast_simulator.projects()] == ["a small loop"]


async def test_4k_on_pro_is_rendered(fast_simulator: Simulator, tmp_path: Path) -> None:
    """On the Pro plan the pre-flight lets a 4K brief through and it is re-rendered."""
    key = fast_simulator.add_account(plan="pro")
    async with AsyncVideoAgent(key, fast_simulator.base_url, time_scale=SCALE) as client:
        summary = await BatchRunner(client, out=tmp_path).run(BRIEFS)
    assert (len(summary.done), summary.failed) == (2, ())
    renders = {p.brief: p.renders for p in fast_simulator.projects(key)}
    assert renders == {"a big screen teaser": 1, "a small loop": 0}


async def test_a_render_refused_mid_way_keeps_the_first_result_and_is_journaled(
    fast_simulator: Simulator, tmp_path: Path
) -> None:
    """The plan lapses mid-run: the first result is kept, the brief says why, no resume re-sends."""
    sim = fast_simulator
    key = sim.add_account(plan="pro")
    brief = [BRIEFS[0]]

    def lapse_while_it_runs(update: BriefUpdate) -> None:
        if update.state in ACTIVE:
            set_plan(sim, key, "free")

    async with AsyncVideoAgent(key, sim.base_url, time_scale=SCALE) as client:
        first = await BatchRunner(client, out=tmp_path, on_update=lapse_while_it_runs).run(brief)
        (failure,) = first.failed
        assert first.done == ()
        assert failure.error is not None
        assert failure.error.startswith("the re-render at 4k was refused: 4k renders need the Pro")
        assert f"the first result is kept at {tmp_path / 'big.mp4'}" in failure.error
        result = await client.projects.result(failure.project_id or "")
        assert failure.path == str(tmp_path / "big.mp4")
        assert sha256_of(failure.path) == failure.sha256 == result.sha256  # the first result
        assert [p.renders for p in sim.projects(key)] == [0]
        with sqlite3.connect(tmp_path / JOURNAL_NAME) as db:
            (refused,) = db.execute("SELECT render_refused FROM briefs").fetchone()
        assert refused.startswith("the re-render at 4k was refused")

        renders, downloads = requests_to(sim, "POST", "/render"), len(sim.download_log)
        again = await BatchRunner(client, out=tmp_path).run(brief)  # still free
        (same,) = again.failed
        assert (same.resumed, same.error, same.path) == (True, failure.error, failure.path)
        assert requests_to(sim, "POST", "/render") == renders  # not sent again
        assert len(sim.download_log) == downloads
        assert again.credits_used == 0

        set_plan(sim, key, "pro")  # renewed: the next run makes the render it asked for
        renewed = await BatchRunner(client, out=tmp_path).run(brief)
        (done,) = renewed.done
        assert [p.renders for p in sim.projects(key)] == [1]
        rendered = await client.projects.result(done.project_id or "")
        assert sha256_of(done.path or "") == done.sha256 == rendered.sha256 != result.sha256
