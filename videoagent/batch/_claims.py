"""Fleet mode: several processes run one batch, each brief driven by the process that claims it.

Processes running the same batch (same briefs, same ``batch_id``) take part
in one *run* of it: the run going on when they start, or a new one when no
process is running the batch (a re-run). They share each brief's facts
(what its create is sent with, before it is sent; project id; done with its
file's size and sha256; failed) through ``BriefClaims``; a brief whose
process died is taken over by another, which resumes its project (or sends
its create again with the very same parameters).

In a run, each brief is claimed by one process and listed in that process's
summary only: done (made now, or done in an earlier run: ``resumed`` when its
file is in ``out``, else downloaded again), failed, or pending (stopped). A
brief that failed in an earlier run gets its retries afresh, like a re-run
without fleet mode gives them.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio
import attrs

from ._briefs import Brief
from ._journal import JournalEntry, JournalLike, JournalStatistics
from ._preflight import resumed_outcome
from ._work import BriefWork, CreateParams

__all__ = ["BatchClaims", "BriefClaims", "ClaimingJournal", "Fact", "run_claimed"]


class BatchClaims(Protocol):
    """One process's part in one run of a batch (what ``BriefClaims.join`` returns).

    Briefs are named by their idempotency keys (unique to the batch). Facts
    are ``Fact.format()`` strings: ``state:run:project_id:size:sha256:params``.
    """

    #: The run's token: the same in every process taking part in the run.
    run: str
    #: Real seconds between looks at briefs that other processes hold.
    recheck: float

    async def claim(self, key: str) -> tuple[str, str]:
        """``("ours" | "taken" | "done" | "failed", fact)``.

        ``ours``: this process runs the brief (the fact is what an earlier
        holder or an earlier run left, or ``""``); ``taken``: a live process
        holds it; ``done``/``failed``: another process settled it in this run.
        """
        ...

    async def facts(self, keys: Sequence[str]) -> list[str]:
        """The briefs' facts (``""`` for none), without claiming them."""
        ...

    async def record(self, key: str, fact: str, *, settled: bool) -> None:
        """A fact of a brief this process holds; ``settled`` (done, failed) ends the claim."""
        ...

    async def leave(self) -> None:
        """The run is over for this process: claims of briefs it did not settle end."""
        ...


class BriefClaims(Protocol):
    """Who runs which brief when several processes run one batch (fleet mode)."""

    async def join(self, batch_id: str) -> BatchClaims:
        """Take part in the batch's current run, or begin one if no process is running it."""
        ...


@attrs.frozen
class Fact:
    """What the fleet knows of a brief: ``state`` (sending, created, done, failed) in ``run``.

    ``params``: while no project id is known, what its create was sent with
    (``CreateParams.to_token()``): the process that takes the brief over
    sends exactly those again, so the idempotent replay matches.
    """

    state: str
    run: str = ""
    project_id: str | None = None
    size: int | None = None
    sha256: str | None = None
    params: str | None = None

    def format(self) -> str:
        """``state:run:project_id:size:sha256:params`` (empty fields for unknowns)."""
        size = "" if self.size is None else str(self.size)
        return (
            f"{self.state}:{self.run}:{self.project_id or ''}:{size}:{self.sha256 or ''}"
            f":{self.params or ''}"
        )

    @classmethod
    def parse(cls, text: str) -> Fact | None:
        """The fact ``format`` wrote (or an older ``state:project_id``); None for ``""``."""
        if not text:
            return None
        parts = text.split(":")
        if len(parts) == 2:  # written before runs existed: from an earlier run
            return cls(parts[0], "", parts[1] or None)
        state, run, project_id, size, sha256, params = (parts + [""] * 6)[:6]
        return cls(
            state,
            run,
            project_id or None,
            int(size) if size.isdigit() else None,
            sha256 or None,
            params or None,
        )


class ClaimingJournal:
    """A journal that also shares each brief's facts through the run's claims."""

    def __init__(self, inner: JournalLike, claims: BatchClaims) -> None:
        self._inner = inner
        self.claims = claims
        self.batch_id = inner.batch_id
        self._keys: dict[int, str] = {}
        self._projects: dict[int, str] = {}
        self._params: dict[int, str] = {}  # create parameters sent, as tokens

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        entries = await self._inner.register(briefs)
        for entry in entries:
            self._keys[entry.index] = entry.key
            if entry.project_id:
                self._projects[entry.index] = entry.project_id
        return entries

    async def known_projects(self, work: Sequence[BriefWork]) -> None:
        """Give the briefs this journal knows no project of the one the fleet knows, if any.

        (Before the credits check: a brief another process created is no new project.)
        """
        unknown = [item for item in work if item.project_id is None and item.outcome is None]
        if not unknown:
            return
        facts = await self.claims.facts([item.entry.key for item in unknown])
        for item, text in zip(unknown, facts, strict=True):
            fact = Fact.parse(text)
            if fact is not None and fact.project_id:
                item.project_id = fact.project_id
                self.took_over(item.brief.index, fact.project_id)

    def took_over(self, index: int, project_id: str) -> None:
        """A brief taken over from another process: its facts name this project."""
        self._projects[index] = project_id

    async def record(self, index: int, **fields: Any) -> None:
        await self._inner.record(index, **fields)
        if fields.get("project_id"):
            self._projects[index] = fields["project_id"]
        state = fields.get("state")
        if "create_params" in fields:
            params = CreateParams.from_json(fields["create_params"])
            if params is None:
                self._params.pop(index, None)
            else:
                self._params[index] = params.to_token()
            state = state or "sending"  # shared before the create is sent
        if state in ("sending", "created", "done", "failed"):
            project_id = self._projects.get(index)
            fact = Fact(
                state,
                self.claims.run,
                project_id,
                fields.get("size") if state == "done" else None,
                fields.get("sha256") if state == "done" else None,
                None if project_id else self._params.get(index),
            )
            settled = state in ("done", "failed")
            await self.claims.record(self._keys[index], fact.format(), settled=settled)

    def statistics(self) -> JournalStatistics:
        return self._inner.statistics()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def run_claimed(
    work: Sequence[BriefWork],
    run_brief: Callable[[BriefWork, anyio.CapacityLimiter], Awaitable[None]],
    limiter: anyio.CapacityLimiter,
    journal: ClaimingJournal,
    out: Path,
) -> None:
    """Run the briefs this process claims (``limiter`` turns at once), until every one is settled.

    A claimed brief done earlier (by this process's journal, or by the fleet's
    fact with its file in ``out``) is reported done at once; one failed in an
    earlier run starts again with no retries spent. Briefs held by live
    processes are looked at again every ``recheck`` seconds (or when one of
    ours ends): a process that died leaves its briefs to the next one that asks.
    """
    claims = journal.claims
    unlimited = anyio.CapacityLimiter(math.inf)  # the limiter is taken here, per claim
    running: set[int] = set()
    changed = [anyio.Event()]
    tokens = {item.brief.index: object() for item in work}  # limiter borrowers

    async def run_one(item: BriefWork) -> None:
        try:
            await run_brief(item, unlimited)
        finally:
            limiter.release_on_behalf_of(tokens[item.brief.index])
            running.discard(item.brief.index)
            changed[0].set()

    async with anyio.create_task_group() as group:
        while True:
            open_items = [i for i in work if i.outcome is None and not i.elsewhere]
            if not open_items:
                return
            for item in open_items:
                if item.brief.index in running or item.outcome is not None:
                    continue
                token = tokens[item.brief.index]
                await limiter.acquire_on_behalf_of(token)
                try:
                    state, text = await claims.claim(item.entry.key)
                    ours = state == "ours"
                    if ours and await _settled_before(item, Fact.parse(text), journal, out):
                        ours = False  # done already: reported, nothing to run
                except BaseException:
                    limiter.release_on_behalf_of(token)
                    raise
                item.taken = state == "taken"
                if not ours:
                    limiter.release_on_behalf_of(token)
                    item.elsewhere = state in ("done", "failed")
                    continue
                running.add(item.brief.index)
                group.start_soon(run_one, item)
            with anyio.move_on_after(claims.recheck):
                await changed[0].wait()
            changed[0] = anyio.Event()


async def _settled_before(
    item: BriefWork, fact: Fact | None, journal: ClaimingJournal, out: Path
) -> bool:
    """A brief just claimed: True if it is done already (now recorded done in this run).

    Else the brief is made ready to run: the project the fact names is
    resumed, and a brief failed in an earlier run gets its retries afresh.
    """
    index = item.brief.index
    if fact is not None and fact.project_id and item.project_id is None:
        item.project_id = fact.project_id  # another process's project: resume it
        journal.took_over(index, fact.project_id)
    sent = None if fact is None or item.project_id else CreateParams.from_token(fact.params or "")
    if sent is not None:  # its create may have been sent: send the very same again
        item.create_params, item.params_journaled = sent, False
    entry = item.entry
    outcome = None
    if entry.state == "done" and entry.project_id == item.project_id:
        outcome = await resumed_outcome(item, entry.path, entry.size, entry.sha256)
    if outcome is None and fact is not None and fact.state == "done":
        path = str(out / entry.file_name)
        outcome = await resumed_outcome(item, path, fact.size, fact.sha256)
    if outcome is not None:
        item.outcome = outcome
        await journal.record(
            index,
            state="done",
            project_id=item.project_id,
            path=outcome.path,
            sha256=outcome.sha256,
            size=outcome.size,
            error=None,
            request_id=None,
        )
        return True
    if fact is not None and fact.state == "failed":
        item.retries = 0  # a re-run: the retries afresh, as without fleet mode
        item.retry_from = None
    return False
