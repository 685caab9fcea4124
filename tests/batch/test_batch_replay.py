"""A create whose answer was lost, resumed by a run with other options: replayed, never a 409."""

from __future__ import annotations

from pathlib import Path

from batch_helpers import SCALE

from videoagent import AsyncVideoAgent
from videoagent.batch import JOURNAL_NAME, BatchRunner, BriefUpdate, Journal
from videoagent.simulator import Faults, Simulator

OLD_HOOK = "http://127.0.0.1:40001/webhooks/videoagent"
NEW_HOOK = "http://127.0.0.1:40002/webhooks/videoagent"
BRIEF = {"brief": "a teaser", "name": "teaser", "metadata": {"team": "a"}}


async def _lose_the_create(
    sim: Simulator, out: Path, brief: dict[str, object], **options: object
) -> None:
    """Run the batch once with the create's answer dropped (made on the server, never answered)."""
    sim.set_faults(Faults(drop=1.0, only="POST /v1/projects", count=1))
    async with AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=SCALE, max_retries=0) as lost:
        runner = BatchRunner(lost, out=out, webhook_url=OLD_HOOK, **options)  # type: ignore[arg-type]
        summary = await runner.run([brief])
    (failure,) = summary.failed
    assert failure.project_id is None
    assert len(sim.projects()) == 1


async def test_lost_create_resumed_with_other_webhook_mode_and_metadata(
    fast_simulator: Simulator, tmp_path: Path
) -> None:
    """A re-run with another webhook URL, mode and metadata replays the first create, no 409."""
    await _lose_the_create(fast_simulator, tmp_path, BRIEF)
    changed = {**BRIEF, "metadata": {"team": "b"}}
    async with AsyncVideoAgent(
        fast_simulator.api_key, fast_simulator.base_url, time_scale=SCALE
    ) as client:
        runner = BatchRunner(client, out=tmp_path, webhook_url=NEW_HOOK, mode="collaborative")
        summary = await runner.run([changed])
        (done,) = summary.done
        assert summary.failed == ()
        (made,) = fast_simulator.projects()
        assert done.project_id == made.id
        assert (made.mode, made.metadata) == ("autonomous", {"team": "a"})  # as first sent
        project = await client.projects.get(made.id)
        assert project.webhook_url == NEW_HOOK  # this run's receiver
    assert summary.credits_used == 0


async def test_create_parameters_are_journaled_before_sending(
    fast_simulator: Simulator, tmp_path: Path
) -> None:
    """The journal holds what the lost create was sent with, and a refused create forgets it."""
    await _lose_the_create(fast_simulator, tmp_path, BRIEF, mode="autonomous")
    journal = await Journal.open(tmp_path / JOURNAL_NAME)
    (entry,) = await journal.entries()
    await journal.aclose()
    assert entry.create_params is not None
    assert OLD_HOOK in entry.create_params
    assert '"team":"a"' in entry.create_params
    assert '"mode":"autonomous"' in entry.create_params
    other = tmp_path / "other"
    async with AsyncVideoAgent(
        fast_simulator.api_key, fast_simulator.base_url, time_scale=SCALE
    ) as client:  # a webhook URL that is no http(s) URL: refused before sending
        summary = await BatchRunner(client, out=other, webhook_url="ftp://x/y").run([BRIEF])
    assert "webhook_url" in (summary.failed[0].error or "")
    journal = await Journal.open(other / JOURNAL_NAME)
    (entry,) = await journal.entries()
    await journal.aclose()
    assert entry.create_params is None


async def test_resumed_project_is_pointed_at_this_runs_webhook(
    fast_simulator: Simulator, tmp_path: Path
) -> None:
    """A project an earlier run made (and journaled) gets this run's webhook URL on resume."""
    async with AsyncVideoAgent(
        fast_simulator.api_key, fast_simulator.base_url, time_scale=SCALE
    ) as client:

        def stop_once_created(update: BriefUpdate) -> None:
            if update.state == "queued":
                first.stop()

        first = BatchRunner(client, out=tmp_path, webhook_url=OLD_HOOK, on_update=stop_once_created)
        stopped = await first.run([BRIEF])
        (pending,) = stopped.pending
        assert pending.project_id is not None
        assert (await client.projects.get(pending.project_id)).webhook_url == OLD_HOOK
        summary = await BatchRunner(client, out=tmp_path, webhook_url=NEW_HOOK).run([BRIEF])
        (done,) = summary.done
        assert done.project_id == pending.project_id
        assert (await client.projects.get(done.project_id)).webhook_url == NEW_HOOK
    assert len(fast_simulator.projects()) == 1
