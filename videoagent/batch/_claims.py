"""Fleet mode: several processes run one batch, each brief driven by the process that claims it.

Processes running the same batch (same briefs, same ``batch_id``) share each
brief's facts (project id, done, failed) through ``BriefClaims``; a brief
whose process died is taken over by another, which resumes its project.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio

from ._briefs import Brief
from ._journal import JournalEntry, JournalLike, JournalStatistics
from ._pipeline import BriefWork

__all__ = ["BriefClaims", "ClaimingJournal", "run_claimed"]


class BriefClaims(Protocol):
    """Who runs which brief when several processes run one batch (fleet mode).

    Briefs are named by their idempotency keys (unique to the batch).
    """

    #: Real seconds between looks at briefs that other processes hold.
    recheck: float

    async def claim(self, key: str) -> tuple[str, str | None]:
        """``("ours" | "taken" | "done" | "failed", project id or None)``."""
        ...

    async def record(self, key: str, state: str, project_id: str | None) -> None:
        """A fact of a brief this process holds: ``created``, ``done`` or ``failed``."""
        ...


class ClaimingJournal:
    """A journal that also shares each brief's facts through the claims."""

    def __init__(self, inner: JournalLike, claims: BriefClaims) -> None:
        self._inner = inner
        self.claims = claims
        self.batch_id = inner.batch_id
        self._keys: dict[int, str] = {}
        self._projects: dict[int, str] = {}

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        entries = await self._inner.register(briefs)
        for entry in entries:
            self._keys[entry.index] = entry.key
            if entry.project_id:
                self._projects[entry.index] = entry.project_id
        return entries

    def took_over(self, index: int, project_id: str) -> None:
        """A brief taken over from a process that died: its facts name this project."""
        self._projects[index] = project_id

    async def record(self, index: int, **fields: Any) -> None:
        await self._inner.record(index, **fields)
        if fields.get("project_id"):
            self._projects[index] = fields["project_id"]
        state = fields.get("state")
        if state in ("created", "done", "failed"):
            await self.claims.record(self._keys[index], state, self._projects.get(index))

    def statistics(self) -> JournalStatistics:
        return self._inner.statistics()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def run_claimed(
    work: Sequence[BriefWork],
    run_brief: Callable[[BriefWork, anyio.CapacityLimiter], Awaitable[None]],
    limiter: anyio.CapacityLimiter,
    journal: ClaimingJournal,
) -> None:
    """Run the briefs this process claims (``limiter`` turns at once), until every one is settled.

    Briefs held by live processes are looked at again every
    ``recheck`` seconds of the journal's claims (or when one of ours ends): a process that
    died leaves its briefs to the next one that asks.
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
                    state, project_id = await claims.claim(item.entry.key)
                except BaseException:
                    limiter.release_on_behalf_of(token)
                    raise
                if state != "ours":
                    limiter.release_on_behalf_of(token)
                    item.elsewhere = state in ("done", "failed")
                    continue
                if project_id is not None and item.project_id is None:
                    item.project_id = project_id  # taken over: resume its project
                    journal.took_over(item.brief.index, project_id)
                running.add(item.brief.index)
                group.start_soon(run_one, item)
            with anyio.move_on_after(claims.recheck):
                await changed[0].wait()
            changed[0] = anyio.Event()
