"""What a run refuses before sending anything (no briefs, text UTF-8 cannot encode); .json runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoagent import AsyncVideoAgent
from videoagent.batch import (
    JOURNAL_NAME,
    BatchRunner,
    Brief,
    BriefFileError,
    BriefSet,
    RequestCounter,
    load_briefs,
    run_batch,
)
from videoagent.simulator import Simulator

Counted = tuple[AsyncVideoAgent, RequestCounter]


async def test_an_empty_list_is_an_error_and_sends_nothing(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """No briefs at all is a mistake (a filter that kept none): raised, nothing sent or written."""
    client, _ = counted
    with pytest.raises(BriefFileError, match=r"^no briefs given"):
        await run_batch([], out=tmp_path / "out", client=client)
    assert fast_simulator.stats().requests == 0
    assert not (tmp_path / "out").exists()


async def test_text_that_cannot_be_encoded_is_refused_before_sending(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """A brief set made by hand with a lone surrogate is refused naming brief and field."""
    client, counter = counted
    briefs = BriefSet(
        (
            Brief("a fine teaser", index=0),
            Brief("a fine loop", name="loop", metadata={"team": "\udc80"}, index=1),
        )
    )
    runner = BatchRunner(client, out=tmp_path, count_requests=counter)
    with pytest.raises(BriefFileError) as info:
        await runner.run(briefs)
    assert [str(p) for p in info.value.problems] == [
        "brief 2: metadata value of 'team' is not valid UTF-8 text "
        "(character 1: \\udc80, a lone surrogate or a byte that is not UTF-8)"
    ]
    assert fast_simulator.stats().requests == 0
    assert not (tmp_path / JOURNAL_NAME).exists()


async def test_a_json_file_is_run_as_json(
    fast_simulator: Simulator, counted: Counted, tmp_path: Path
) -> None:
    """briefs.json runs its array's briefs: no project is made of a '[' or a '{' line."""
    path = tmp_path / "briefs.json"
    records = ["a teaser for bikes", {"brief": "a loop for mugs", "name": "mugs"}]
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    client, counter = counted
    runner = BatchRunner(client, out=tmp_path / "out", count_requests=counter)
    summary = await runner.run(load_briefs(path))
    assert [o.name for o in summary.done] == ["0001-a-teaser-for-bikes.mp4", "mugs.mp4"]
    assert sorted(p.brief for p in fast_simulator.projects()) == [
        "a loop for mugs",
        "a teaser for bikes",
    ]
