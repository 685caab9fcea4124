"""A batch run by several fleet members (each its own client and journal), and run again."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from fleet_helpers import FAST, LEASE, SCALE, RedisServer

from videoagent import AsyncVideoAgent
from videoagent._wiring import wiring_of
from videoagent.batch import BatchRunner, BatchSummary, BriefOutcome, BriefUpdate
from videoagent.batch._claims import BatchClaims, BriefClaims
from videoagent.fleet import FleetRuntime, RedisBackend
from videoagent.simulator import Simulator

MEMBERS = 3
BRIEFS = [f"a 10 s teaser, take {i}" for i in range(5)]
DOOMED = 2  # the brief whose project the tests make fail
RETRIES = 1
ACTIVE = frozenset({"queued", "running", "generating", "rendering"})


@pytest.fixture
async def fleet_simulator() -> AsyncIterator[Simulator]:
    """A simulator with short phases, 100x faster, seeded."""
    async with Simulator(time_scale=SCALE, seed=7, durations=FAST) as sim:
        yield sim


class _Together:
    """Claims that join the fleet's run, then wait until every member has joined it."""

    def __init__(self, count: int) -> None:
        self.tokens: list[str] = []
        self._count = count
        self._all = anyio.Event()

    def of(self, client: AsyncVideoAgent) -> BriefClaims:
        fleet = wiring_of(client).shared
        assert isinstance(fleet, FleetRuntime)
        together = self

        class Gated:
            async def join(self, batch_id: str) -> BatchClaims:
                run = await fleet.claims.join(batch_id)
                together.tokens.append(run.run)
                if len(together.tokens) == together._count:
                    together._all.set()
                await together._all.wait()
                return run

        return Gated()


async def _run_fleet(
    sim: Simulator,
    api_key: str,
    server: RedisServer,
    *,
    out: Path,
    journals: Sequence[Path],
    on_update: Callable[[BriefUpdate], object],
) -> tuple[list[BatchSummary], str]:
    """One run of the batch by ``len(journals)`` new members at once; their summaries, run token."""
    backend = RedisBackend(url=server.url, lease=LEASE)
    together = _Together(len(journals))
    summaries: list[BatchSummary] = []
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                AsyncVideoAgent(api_key, sim.base_url, time_scale=SCALE, limits_backend=backend)
            )
            for _ in journals
        ]

        async def member(client: AsyncVideoAgent, journal: Path) -> None:
            runner = BatchRunner(
                client,
                out=out,
                journal=journal,
                batch_id="fleet-rerun",
                retries=RETRIES,
                on_update=on_update,
                claims=together.of(client),
            )
            summaries.append(await runner.run(BRIEFS))

        async with anyio.create_task_group() as group:
            for client, journal in zip(clients, journals, strict=True):
                group.start_soon(member, client, journal)
    (token,) = set(together.tokens)  # every member took part in one run
    return summaries, token


def _listed(summaries: list[BatchSummary]) -> dict[int, list[BriefOutcome]]:
    """Every outcome of the members' summaries, by brief index."""
    listed: dict[int, list[BriefOutcome]] = {}
    for summary in summaries:
        assert not summary.pending
        assert not summary.skipped
        for outcome in (*summary.done, *summary.failed):
            listed.setdefault(outcome.index, []).append(outcome)
    assert sorted(listed) == list(range(len(BRIEFS)))  # no brief missing
    assert all(len(outcomes) == 1 for outcomes in listed.values()), listed  # none twice
    return listed


def _check_done(outcome: BriefOutcome, out: Path) -> None:
    assert outcome.state == "done"
    assert outcome.path is not None
    assert Path(outcome.path).parent == out
    assert hashlib.sha256(Path(outcome.path).read_bytes()).hexdigest() == outcome.sha256


async def test_a_rerun_retries_a_failed_brief_once_across_the_fleet(
    redis_server: RedisServer, fleet_simulator: Simulator, tmp_path: Path
) -> None:
    """Re-runs by new members: a brief failed before is retried by one member, listed once."""
    sim = fleet_simulator
    # 400 credits: the batch's 5 creates and 3 retries, not 5 more creates for a re-run.
    api_key = sim.add_account(credits=400)
    out = tmp_path / "out"
    jinxed = [True]

    def jinx(update: BriefUpdate) -> None:
        if jinxed[0] and update.index == DOOMED and update.state in ACTIVE:
            sim.fail_project(update.project_id or "")  # the run under way fails

    def doomed_runs() -> int:
        (project,) = [p for p in sim.projects(api_key) if p.brief == BRIEFS[DOOMED]]
        return project.runs

    first_journals = [tmp_path / f"first-{i}.sqlite" for i in range(MEMBERS)]
    first, run_1 = await _run_fleet(
        sim, api_key, redis_server, out=out, journals=first_journals, on_update=jinx
    )
    listed = _listed(first)
    (failure,) = listed[DOOMED]
    assert (failure.state, failure.retries) == ("failed", RETRIES)
    assert doomed_runs() == 1 + RETRIES
    doomed_project = failure.project_id
    for index, (outcome,) in listed.items():
        if index != DOOMED:
            _check_done(outcome, out)

    # A re-run by new members with new journals, the project still failing: listed failed.
    downloads = len(sim.download_log)
    fresh_journals = [tmp_path / f"again-{i}.sqlite" for i in range(MEMBERS)]
    again, run_2 = await _run_fleet(
        sim, api_key, redis_server, out=out, journals=fresh_journals, on_update=jinx
    )
    listed = _listed(again)
    (failure,) = listed[DOOMED]
    assert (failure.state, failure.retries) == ("failed", RETRIES)
    assert failure.project_id == doomed_project  # the same project, resumed
    assert doomed_runs() == 1 + 2 * RETRIES  # its retries spent once across the fleet
    for index, (outcome,) in listed.items():
        if index != DOOMED:
            _check_done(outcome, out)
            assert outcome.resumed
    assert len(sim.download_log) == downloads  # the files in out were taken as they are

    # And once more (the first journals), the project healthy now: retried once, done.
    jinxed[0] = False
    last, run_3 = await _run_fleet(
        sim, api_key, redis_server, out=out, journals=first_journals, on_update=jinx
    )
    listed = _listed(last)
    (outcome,) = listed[DOOMED]
    _check_done(outcome, out)
    assert (outcome.retries, outcome.resumed) == (1, False)
    assert doomed_runs() == 2 + 2 * RETRIES
    assert all(o.resumed for i, (o,) in listed.items() if i != DOOMED)
    assert len(sim.projects(api_key)) == len(BRIEFS)  # no project made twice
    assert sim.account(api_key)["credits"] == 400 - 5 * 50 - 3 * 10
    assert len({run_1, run_2, run_3}) == 3  # each was a run of its own
