"""``RedisBriefClaims``: the briefs of one batch shared by the processes that run it.

A process running a batch first joins the batch's *run* (``join``): the run
that is going on (some process is in it), or a new one when none is. Runs
that overlap in time are one run of the batch; a run that starts when no
process is running the batch is a re-run.

Each brief (named by its idempotency key, which is unique to its batch) is
driven by the process that claims it. A claim lasts while its process beats
(the heartbeat); a process that stopped beating loses its claims (and its
place in the run) to the next process that asks, and a process leaving the
run gives up the claims it did not settle. Facts (``state:run:…``: created,
done or failed, and the run that wrote it) are kept per brief, so a process
taking a brief over resumes its project instead of creating another (its
create would carry the same idempotency key anyway). A brief settled in this
run is not claimed again; one settled in an earlier run is claimed once more
(by one process of the run: a failed brief gets its retries afresh). If Redis
loses its data, every process writes its claims, facts and runs again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import anyio

from . import _scripts

if TYPE_CHECKING:
    from ._runtime import FleetRuntime

__all__ = ["RedisBatchRun", "RedisBriefClaims"]

_SETTLED: Final = frozenset({"done", "failed"})
_FACTS_AT_ONCE: Final = 500


class RedisBriefClaims:
    """Brief claims of batches across the fleet (the batch runner's ``BriefClaims``)."""

    def __init__(self, runtime: FleetRuntime) -> None:
        self._rt = runtime
        self._mine: set[str] = set()
        self._facts: dict[str, tuple[str, bool]] = {}
        self._runs: set[RedisBatchRun] = set()
        #: Real seconds between looks at briefs other processes hold.
        self.recheck = runtime.lease / 2

    def _keys(self) -> list[str]:
        return [self._rt.key("claim_owner"), self._rt.key("claim_facts")]

    def _run_keys(self, batch_id: str) -> list[str]:
        return [self._rt.key(f"batch_run:{batch_id}"), self._rt.key(f"batch_members:{batch_id}")]

    async def join(self, batch_id: str) -> RedisBatchRun:
        """Join the batch's current run across the fleet, or begin a new one."""
        member = self._rt.next_id()
        token = uuid.uuid4().hex[:16]
        liveness = str(int(self._rt.lease * 1e6))
        keys = [*self._run_keys(batch_id), self._rt.key("procs")]
        while True:
            result = await self._rt.run(_scripts.JOIN, keys, [member, token, liveness])
            if result[1]:
                break
            await anyio.sleep(self.recheck)  # Redis lost its data: the live members first
        run = RedisBatchRun(self, batch_id, member, str(result[1]))
        self._runs.add(run)
        return run

    async def _claim(self, run: RedisBatchRun, key: str) -> tuple[str, str]:
        result = await self._rt.run(
            _scripts.CLAIM,
            [*self._keys(), self._rt.key("procs")],
            [key, self._rt.process, run.run],
        )
        state, fact = str(result[1]), str(result[2])
        if state == "ours":
            self._mine.add(key)
            run.held.add(key)
        return state, fact

    async def facts(self, keys: Sequence[str]) -> list[str]:
        """The briefs' facts (``""`` for none), a round trip per 500."""
        found: list[str] = []
        for start in range(0, len(keys), _FACTS_AT_ONCE):
            chunk = list(keys[start : start + _FACTS_AT_ONCE])
            result = await self._rt.run(_scripts.FACTS, [self._rt.key("claim_facts")], chunk)
            found.extend(str(fact) for fact in result[1:])
        return found

    async def _record(self, run: RedisBatchRun, key: str, fact: str, *, settled: bool) -> None:
        self._facts[key] = (fact, settled)
        if settled:
            self._mine.discard(key)
            run.held.discard(key)
        await self._rt.run(_scripts.FACT, self._keys(), [key, fact, "1" if settled else "0"])

    def _leave(self, run: RedisBatchRun) -> None:
        self._runs.discard(run)
        held = sorted(run.held)
        run.held.clear()
        self._mine.difference_update(held)
        keys = [self._run_keys(run.batch_id)[1], self._rt.key("claim_owner")]
        self._rt.enqueue(_scripts.LEAVE, keys, [run.member, self._rt.process, *held])

    def members(self) -> list[str]:
        """The briefs this process holds (the heartbeat keeps their claims)."""
        return list(self._mine)

    def reassert(self) -> None:
        """Redis lost its data: write every fact and run this process knows again."""
        for key, (fact, settled) in self._facts.items():
            self._rt.enqueue(_scripts.FACT, self._keys(), [key, fact, "1" if settled else "0"])
        for run in self._runs:
            self._rt.enqueue(_scripts.REJOIN, self._run_keys(run.batch_id), [run.member, run.run])


class RedisBatchRun:
    """This process's part in one run of a batch (``RedisBriefClaims.join``).

    Attributes:
        run: the run's token, the same in every process of the run.
        recheck: real seconds between looks at briefs other processes hold.
    """

    def __init__(self, claims: RedisBriefClaims, batch_id: str, member: str, run: str) -> None:
        self._claims = claims
        self.batch_id = batch_id
        self.member = member
        self.run = run
        self.recheck = claims.recheck
        self.held: set[str] = set()

    def __repr__(self) -> str:
        return f"<RedisBatchRun batch_id={self.batch_id!r} run={self.run!r}>"

    async def claim(self, key: str) -> tuple[str, str]:
        """``("ours" | "taken" | "done" | "failed", fact)``: ``ours`` once claimed (the
        fact an earlier holder or run left, or ``""``); ``taken`` by a live process;
        ``done``/``failed`` settled in this run by another process."""
        return await self._claims._claim(self, key)

    async def facts(self, keys: Sequence[str]) -> list[str]:
        """What the fleet knows of these briefs (``""`` for nothing), without claiming them."""
        return await self._claims.facts(keys)

    async def record(self, key: str, fact: str, *, settled: bool) -> None:
        """A fact of a claimed brief (``state:run:…``); ``settled`` ends the claim."""
        await self._claims._record(self, key, fact, settled=settled)

    async def leave(self) -> None:
        """Leave the run; the claims of briefs not settled end (another process may take them).

        A queued write: it never waits for Redis (the client's close sends it).
        """
        self._claims._leave(self)
