"""The batch runner over real HTTP against the simulator: the whole flow, and its edges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_helpers import names_in, remove, sha256_of

from videoagent import AsyncVideoAgent, Project, Result, batch
from videoagent.batch import (
    JOURNAL_NAME,
    BatchCreditsError,
    BatchRunner,
    Brief,
    BriefFileError,
    BriefUpdate,
    Journal,
    JournalMismatchError,
    RequestCounter,
    briefs_from,
    load_briefs,
    run_batch,
)
from videoagent.simulator import Simulator

Counted = tuple[AsyncVideoAgent, RequestCounter]


def runner(counted: Counted, out: Path, **options: object) -> BatchRunner:
    client, counter = counted
    return BatchRunner(client, out=out, count_requests=counter, **options)  # type: ignore[arg-type]


async def test_thirty_briefs_become_verified_files(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """30 briefs end as 30 files whose sha256 matches the API's result, one project each."""
    client, _ = counted
    summary = await runner(counted, tmp_path).run([f"teaser number {i}" for i in range(30)])
    assert (len(summary.done), summary.failed, summary.pending, summary.skipped) == (30, (), (), ())
    assert summary.exit_code == 0
    assert summary.credits_used == 30 * 50
    assert summary.requests == fast_simulator.stats().requests
    projects = fast_simulator.projects()
    assert len(projects) == 30
    assert len({p.idempotency_key for p in projects}) == 30
    for outcome in summary.done:
        assert outcome.path is not None
        assert Path(outcome.path).parent == tmp_path
        assert sha256_of(outcome.path) == outcome.sha256
    result: Result = await client.projects.result(summary.done[7].project_id or "")
    assert result.sha256 == summary.done[7].sha256
    videos = [n for n in names_in(tmp_path) if not n.startswith(JOURNAL_NAME)]
    assert videos == sorted(o.name for o in summary.done)


async def test_decision_points_are_answered_and_renders_made(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A callable reply policy answers each decision point; a render brief is re-rendered."""
    asked: list[tuple[str, str | None]] = []

    async def reply(brief: Brief, project: Project) -> str:
        asked.append((brief.text, project.agent_message))
        return f"go ahead with {brief.name}"

    briefs = [
        {"brief": "collab one", "name": "one", "mode": "collaborative"},
        {"brief": "render me", "name": "two", "render": "1080p"},
    ]
    summary = await runner(counted, tmp_path, reply=reply).run(briefs)
    assert len(summary.done) == 2
    one = next(o for o in summary.done if o.name == "one.mp4")
    assert one.replies == len(asked) >= 1
    assert all(text == "collab one" and q and "Decision point" in q for text, q in asked)
    snapshots = {p.brief: p for p in fast_simulator.projects()}
    assert snapshots["render me"].renders == 1
    assert snapshots["collab one"].mode == "collaborative"
    client, _ = counted
    contents = [m.content async for m in client.projects.messages(one.project_id or "")]
    assert "go ahead with one" in contents


async def test_failed_run_is_retried_by_message(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A project whose run fails is retried by a message and then done."""
    failed: set[str] = set()

    def break_once(update: BriefUpdate) -> None:
        if update.project_id and update.project_id not in failed:
            failed.add(update.project_id)
            fast_simulator.fail_project(update.project_id)

    summary = await runner(counted, tmp_path, retries=1, on_update=break_once).run(["fragile"])
    (outcome,) = summary.done
    assert outcome.retries == 1
    assert fast_simulator.projects()[0].runs == 2
    assert summary.credits_used == 50 + 10


async def test_retries_run_out(fast_simulator: Simulator, counted: Counted, tmp_path: Path) -> None:
    """A project that fails every run is reported failed, with its error and request id."""

    def break_always(update: BriefUpdate) -> None:
        if update.name.endswith("doomed.mp4") and update.project_id and update.state == "queued":
            fast_simulator.fail_project(update.project_id)

    summary = await runner(counted, tmp_path, retries=2, on_update=break_always).run(
        ["doomed", "fine"]
    )
    assert [o.name for o in summary.done] == ["0002-fine.mp4"]
    (failure,) = summary.failed
    assert failure.retries == 2
    assert failure.error is not None
    assert "The agent failed" in failure.error
    assert "after 2 retries" in failure.error
    assert failure.request_id is not None
    assert failure.request_id.startswith("req_")
    assert summary.exit_code == 1


async def test_an_on_update_that_raises_does_not_stop_the_batch(
    counted: Counted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A progress callback's bug is logged once per update; every video is still made."""

    def broken(update: BriefUpdate) -> None:
        raise RuntimeError(f"display bug at {update.state}")

    summary = await runner(counted, tmp_path, on_update=broken).run(["one", "two"])
    assert [o.name for o in summary.done] == ["0001-one.mp4", "0002-two.mp4"]
    assert not summary.failed
    assert any("on_update raised" in r.getMessage() for r in caplog.records)


async def test_credits_short_sends_nothing(fast_simulator: Simulator, tmp_path: Path) -> None:
    """Credits that cannot cover the batch stop it before any project is made."""
    key = fast_simulator.add_account(credits=120)
    with pytest.raises(BatchCreditsError, match="120 credits but the batch needs 150") as info:
        await run_batch(
            ["a", "b", "c"],
            out=tmp_path,
            api_key=key,
            base_url=fast_simulator.base_url,
            time_scale=fast_simulator.time_scale,
        )
    assert (info.value.credits, info.value.needed) == (120, 150)
    assert fast_simulator.projects(key) == ()


async def test_allow_partial_runs_what_credits_cover(
    fast_simulator: Simulator, tmp_path: Path
) -> None:
    """With allow_partial, the briefs the credits cover run and the rest are skipped."""
    key = fast_simulator.add_account(credits=120)
    summary = await run_batch(
        ["a", "b", "c"],
        out=tmp_path,
        api_key=key,
        base_url=fast_simulator.base_url,
        time_scale=fast_simulator.time_scale,
        allow_partial=True,
    )
    assert [o.index for o in summary.done] == [0, 1]
    (skip,) = summary.skipped
    assert skip.index == 2
    assert "not enough credits" in skip.message
    assert summary.exit_code == 1
    assert len(fast_simulator.projects(key)) == 2


async def test_bad_input_sends_nothing(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """Bad records raise BriefFileError with file:line before a single request."""
    path = tmp_path / "briefs.jsonl"
    path.write_text('{"brief": "good"}\n{"brief": "x", "mode": "loud"}\n', encoding="utf-8")
    with pytest.raises(BriefFileError, match=r"briefs.jsonl:2: mode must be"):
        await runner(counted, tmp_path / "out").run(load_briefs(path))
    assert fast_simulator.stats().requests == 0


async def test_skip_invalid_sends_the_rest(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """With skip_invalid the good briefs run and the bad ones are listed as skipped."""
    path = tmp_path / "briefs.jsonl"
    path.write_text('{"brief": "good"}\n{"brief": "x", "mode": "loud"}\n', encoding="utf-8")
    summary = await runner(counted, tmp_path / "out", skip_invalid=True).run(load_briefs(path))
    assert [o.index for o in summary.done] == [0]
    assert [s.where for s in summary.skipped] == [f"{path}:2"]
    assert json.loads(json.dumps(summary.to_dict()))["counts"] == {
        "done": 1,
        "failed": 0,
        "pending": 0,
        "skipped": 1,
    }


async def test_expired_url_is_fetched_again(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A result URL that expires before the download is replaced by a fresh one; file verified."""
    client, _ = counted
    fetched = 0
    original = client.projects.result

    async def result_then_a_day_passes(project_id: str) -> Result:
        nonlocal fetched
        fetched += 1
        result = await original(project_id)
        if fetched == 1:
            fast_simulator.advance(2 * 86_400)  # the URL just handed out is now expired
        return result

    client.projects.result = result_then_a_day_passes  # type: ignore[method-assign]
    summary = await runner(counted, tmp_path).run(["late download"])
    (outcome,) = summary.done
    assert fetched == 2
    assert sha256_of(outcome.path or "") == outcome.sha256
    downloads = [r for r in fast_simulator.request_log if "/result" in r.path]
    assert len(downloads) == 2


async def test_stop_then_resume_does_each_brief_once(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A graceful stop leaves pending briefs; running again finishes them with no new duplicates."""
    texts = [f"brief {i}" for i in range(8)]
    first: BatchRunner | None = None

    def stop_after_two(update: BriefUpdate) -> None:
        if update.state == "done" and update.index >= 0 and first is not None:
            done.add(update.index)
            if len(done) == 2:
                first.stop()

    done: set[int] = set()
    first = runner(counted, tmp_path, on_update=stop_after_two)
    stopped = await first.run(texts)
    assert stopped.interrupted
    assert stopped.exit_code == 130
    assert len(stopped.done) >= 2
    assert stopped.pending
    assert {o.index for o in stopped.done} | {o.index for o in stopped.pending} == set(range(8))

    resumed = await runner(counted, tmp_path).run(texts)
    assert len(resumed.done) == 8
    assert resumed.exit_code == 0
    assert {o.index for o in resumed.done if o.resumed} == {o.index for o in stopped.done}
    projects = fast_simulator.projects()
    assert len(projects) == 8
    assert sorted(p.brief for p in projects) == sorted(texts)


async def test_stop_as_a_render_is_answered_renders_once(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A stop landing as the render's answer comes back: the resumed run does not render again."""
    brief = {"brief": "render me once", "name": "once", "render": "1080p"}
    first: BatchRunner | None = None

    def stop_on_the_answer(update: BriefUpdate) -> None:
        if update.state == "rendering" and update.detail is None and first is not None:
            first.stop()  # the render's own answer (rendering) is being read

    first = runner(counted, tmp_path, on_update=stop_on_the_answer)
    stopped = await first.run([brief])
    assert stopped.interrupted
    assert [p.renders for p in fast_simulator.projects()] == [1]
    resumed = await runner(counted, tmp_path).run([brief])
    (outcome,) = resumed.done
    assert [p.renders for p in fast_simulator.projects()] == [1]
    client, _ = counted
    result = await client.projects.result(outcome.project_id or "")
    assert outcome.sha256 == result.sha256 == sha256_of(outcome.path or "")


async def test_stop_as_a_retry_is_answered_spends_no_extra_retry(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A stop landing as a retry's answer comes back: the resumed run counts that retry."""
    first: BatchRunner | None = None
    retrying: set[int] = set()

    def fail_every_run(update: BriefUpdate) -> None:
        if update.state in ("queued", "running", "generating", "rendering"):
            fast_simulator.fail_project(update.project_id or "")

    def fail_and_stop_on_the_answer(update: BriefUpdate) -> None:
        fail_every_run(update)
        if update.state == "retrying":
            retrying.add(update.index)
        elif update.state == "queued" and retrying and first is not None:
            first.stop()  # the retry's own answer (queued) is being read

    first = runner(counted, tmp_path, retries=1, on_update=fail_and_stop_on_the_answer)
    stopped = await first.run(["doomed"])
    assert stopped.interrupted
    assert [p.runs for p in fast_simulator.projects()] == [2]  # the retry was made
    journal = await Journal.open(tmp_path / JOURNAL_NAME)
    (entry,) = await journal.entries()
    await journal.aclose()
    assert (entry.retries, entry.retry_from is not None) == (0, True)  # not counted yet
    resumed = await runner(counted, tmp_path, retries=1, on_update=fail_every_run).run(["doomed"])
    (failure,) = resumed.failed
    assert failure.retries == 1
    assert [p.runs for p in fast_simulator.projects()] == [2]  # no second retry


async def test_render_recorded_but_never_sent_is_sent_on_resume(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A run killed between recording a render and sending it: the resumed run renders once."""
    brief = {"brief": "render me later", "name": "later"}
    first = await runner(counted, tmp_path).run([brief])
    (done,) = first.done
    client, _ = counted
    project = await client.projects.get(done.project_id or "")
    remove(done.path or "")
    journal = await Journal.open(tmp_path / JOURNAL_NAME)
    await journal.record(0, render_from=project.updated_at.isoformat())  # and then the kill
    await journal.aclose()
    resumed = await runner(counted, tmp_path).run([{**brief, "render": "1080p"}])
    (outcome,) = resumed.done
    assert [p.renders for p in fast_simulator.projects()] == [1]
    result = await client.projects.result(outcome.project_id or "")
    assert outcome.sha256 == result.sha256 != done.sha256


async def test_deleted_video_is_downloaded_again(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A done brief whose file is gone is downloaded again from its project, nothing recreated."""
    first = await runner(counted, tmp_path).run(["a", "b"])
    gone = Path(first.done[0].path or "")
    remove(gone)
    again = await runner(counted, tmp_path).run(["a", "b"])
    assert [o.resumed for o in again.done] == [False, True]
    assert sha256_of(gone) == first.done[0].sha256
    assert len(fast_simulator.projects()) == 2
    assert again.credits_used == 0


async def test_changed_brief_is_refused(counted: Counted, tmp_path: Path) -> None:
    """Resuming with a brief changed in place raises instead of mixing batches."""
    await runner(counted, tmp_path).run(["a"])
    with pytest.raises(JournalMismatchError):
        await runner(counted, tmp_path).run(["A"])


async def test_without_journal_nothing_is_written(counted: Counted, tmp_path: Path) -> None:
    """journal=False runs the batch with no journal file."""
    summary = await runner(counted, tmp_path, journal=False).run(briefs_from(["a"]))
    assert len(summary.done) == 1
    assert summary.journal is None
    assert not (tmp_path / JOURNAL_NAME).exists()


async def test_failed_brief_gets_new_retries_on_the_next_run(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A brief that failed for good is retried on the same project when the batch runs again."""
    broken: set[str] = set()

    def break_once(update: BriefUpdate) -> None:
        if update.project_id and update.project_id not in broken:
            broken.add(update.project_id)
            fast_simulator.fail_project(update.project_id)

    first = await runner(counted, tmp_path, retries=0, on_update=break_once).run(["flaky"])
    (failure,) = first.failed
    second = await runner(counted, tmp_path, retries=1).run(["flaky"])
    (outcome,) = second.done
    assert outcome.project_id == failure.project_id
    assert outcome.retries == 1
    assert len(fast_simulator.projects()) == 1


def test_public_names_are_sorted_and_resolve() -> None:
    """videoagent.batch exports a sorted __all__ whose every name exists."""
    assert batch.__all__ == sorted(batch.__all__, key=lambda n: (not n.isupper(), n))
    assert all(hasattr(batch, name) for name in batch.__all__)
