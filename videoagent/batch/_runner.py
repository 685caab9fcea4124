"""``BatchRunner``: many briefs to verified videos, resumable from its journal.

A run reads the briefs, registers them in the journal (``_journal``), checks
what is done already and what the credits cover (``_preflight``), then runs
every open brief through its state machine (``_pipeline``) in one task group,
at most ``concurrency`` at once, and sums up the outcomes (``_summary``).

A graceful ``stop()`` cancels every wait and creation, lets downloads that
have begun finish (they and their journal write are shielded), and leaves the
projects running for the next run.

One process runs a batch; to spread one batch over many processes or
machines, run it on Celery (``videoagent.integrations.celery``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from videoagent._tasks import task_group
from videoagent._wiring import wiring_of

from ._briefs import Brief, BriefProblem, BriefSet
from ._credits import CreditLedger, check_credits, credits_spent
from ._journal import JOURNAL_NAME, Journal, JournalLike, JournalStatistics, NullJournal
from ._pipeline import DEFAULT_REPLY, BriefPipeline, BriefPolicy, Mode, ReplyPolicy
from ._preflight import brief_window, check_plan, checked, prepare_out, resume_done
from ._summary import BatchSummary, BriefUpdate
from ._work import BriefWork

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent

__all__ = ["BatchRunner"]


class BatchRunner:
    """Turns briefs into verified video files in ``out``, crash-safe and resumable.

    Example::

        async with AsyncVideoAgent() as client:
            runner = BatchRunner(client, out="videos/", retries=2, reply="go ahead")
            summary = await runner.run(load_briefs("briefs.txt"))
        print(len(summary.done), "videos in", summary.out)

    Run the same batch again (same ``out``) after a crash or a stop and it
    resumes: done briefs stay done, created projects are picked up again, and
    no project is made twice. A brief that failed gets its ``retries`` afresh
    (on the same project).

    Args:
        client: the client to work through (entered with ``async with``).
        out: the folder for the videos (and, by default, the journal).
        journal: the journal's path; ``True`` (default) for
            ``out/.videoagent-batch.sqlite``; ``False`` for none (no resuming).
        batch_id: the batch's id (default: the journal's, or a new one).
        mode: the mode of briefs that name none (default: the API's, autonomous).
        retries: messages sent to retry a failed project before it counts as failed.
        reply: answers decision points: a fixed text, or ``f(brief, project)``
            returning (or awaiting to) the text.
        allow_partial: when credits cannot cover the batch (50 a new project,
            10 more a collaborative brief, 10 a brief failed before: see
            ``BatchCreditsError``), run the new briefs they cover and skip the
            rest (default: raise ``BatchCreditsError``). Whatever this says, a
            new project starts only while the credits cover it on top of what
            the started briefs hold back (10 a collaborative one): a brief not
            started for that ends ``pending`` (listed in ``skipped``) and the
            next run starts it.
        skip_invalid: send the good briefs of an input with bad records, and
            skip new briefs asking for a 4K render on an account without the
            Pro plan (default: raise ``BriefFileError`` before sending anything).
        concurrency: briefs in progress at once (default: active slots + 2).
        webhook_url: given to each create (a receiver then calls ``notify``).
        on_update: called with a ``BriefUpdate`` whenever a brief moves on.
        count_requests: a callable returning the API requests made so far
            (the summary reports the difference); ``None``: not counted.
    """

    def __init__(
        self,
        client: AsyncVideoAgent,
        *,
        out: str | os.PathLike[str],
        journal: bool | str | os.PathLike[str] = True,
        batch_id: str | None = None,
        mode: Mode | None = None,
        retries: int = 2,
        reply: ReplyPolicy = DEFAULT_REPLY,
        allow_partial: bool = False,
        skip_invalid: bool = False,
        concurrency: int | None = None,
        webhook_url: str | None = None,
        on_update: Callable[[BriefUpdate], object] | None = None,
        count_requests: Callable[[], int] | None = None,
    ) -> None:
        active = client.limits.active_projects
        self._concurrency = brief_window(active, retries=retries, concurrency=concurrency)
        self._client = client
        self._out = Path(out)
        if journal is True:
            self._journal_path: Path | None = self._out / JOURNAL_NAME
        elif journal is False:
            self._journal_path = None
        else:
            self._journal_path = Path(journal)
        self._batch_id = batch_id
        self._policy = BriefPolicy(mode=mode, retries=retries, reply=reply, webhook_url=webhook_url)
        self._allow_partial = allow_partial
        self._skip_invalid = skip_invalid
        self._on_update = on_update
        self._count_requests = count_requests
        self._scope: anyio.CancelScope | None = None
        self._stopping = False
        self._journal: JournalLike = NullJournal(batch_id)

    # -- control -------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """``stop()`` was called."""
        return self._stopping

    def stop(self) -> None:
        """Stop gracefully: no new creates or messages, finish downloads, leave projects running.

        Call it from the event loop's thread (a signal handler added with
        ``loop.add_signal_handler`` is). The summary then lists unfinished
        briefs as ``pending``; running the batch again resumes them.
        """
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()

    def journal_statistics(self) -> JournalStatistics:
        """What the journal of the current (or last) run has cost so far."""
        return self._journal.statistics()

    # -- the run ------------------------------------------------------------------

    async def run(
        self, briefs: BriefSet | Iterable[str | Brief | Mapping[str, Any]]
    ) -> BatchSummary:
        """Run the batch to the end (or until ``stop()``); the summary.

        Each call is a run: briefs done before are listed done (``resumed``),
        briefs failed before are retried afresh (but a re-render the account
        refused is not sent again, unless a 4K one now that the plan is Pro).

        Raises, before anything is sent: ``BriefFileError`` (no briefs at all;
        bad records, or new briefs asking for a 4K render without the Pro
        plan, unless ``skip_invalid``), ``BatchCreditsError`` (credits short,
        unless ``allow_partial``), ``JournalMismatchError`` (the journal holds
        another batch) or its ``JournalLockedError`` (another run holds it).
        """
        started = time.perf_counter()
        requests_before = self._count_requests() if self._count_requests else 0
        brief_set, skipped = checked(briefs, skip_invalid=self._skip_invalid)
        journal = await self._open_journal()
        self._journal = journal
        try:
            entries = await journal.register(brief_set.briefs)
            work = [BriefWork.resume(b, e) for b, e in zip(brief_set.briefs, entries, strict=False)]
            await resume_done(work)
            mode = self._policy.mode
            account = await self._client.account.get()
            check_plan(account, work, skipped, skip_invalid=self._skip_invalid)
            check_credits(account, work, skipped, allow_partial=self._allow_partial, mode=mode)
            balance = account.credits
            credits = CreditLedger(balance, mode=mode)
            for item in work:
                if item.outcome is None and item.project_id is not None:
                    credits.hold(item)
            await anyio.to_thread.run_sync(prepare_out, self._out, work)
            try:
                await self._run_open(work, journal, credits)
            finally:
                skipped.extend(credits.skipped)
            credits_used = await credits_spent(self._client, balance)
        finally:
            await journal.aclose()
        return self._summary(work, skipped, started, requests_before, credits_used)

    async def _run_open(
        self, work: list[BriefWork], journal: JournalLike, credits: CreditLedger
    ) -> None:
        """Run every open brief to its end."""
        pipeline = BriefPipeline(
            self._client,
            self._policy,
            watcher=self._client.watcher,
            journal=journal,
            out=self._out,
            on_update=self._on_update,
            stopping=lambda: self._stopping,
            credits=credits,
        )
        limiter = anyio.CapacityLimiter(self._concurrency)
        self._scope = anyio.CancelScope()
        if self._stopping:
            self._scope.cancel()
        # The server's balance, whenever it is low:
        warnings = wiring_of(self._client).ledger.credits
        warnings.subscribe(credits.observed)
        try:
            with self._scope:
                async with task_group() as group:  # an error comes out as itself
                    for item in work:
                        if item.outcome is None:
                            group.start_soon(pipeline.run, item, limiter)
        finally:
            warnings.unsubscribe(credits.observed)

    async def _open_journal(self) -> JournalLike:
        if self._journal_path is None:
            return NullJournal(self._batch_id)
        return await Journal.open(self._journal_path, batch_id=self._batch_id)

    def _summary(
        self,
        work: list[BriefWork],
        skipped: list[BriefProblem],
        started: float,
        requests_before: int,
        credits_used: int | None,
    ) -> BatchSummary:
        statistics = self._journal.statistics()
        return BatchSummary.of(
            (item.outcome or item.to_outcome("pending") for item in work),
            skipped=skipped,
            batch_id=self._journal.batch_id,
            out=str(self._out),
            credits_used=credits_used,
            wall_time=time.perf_counter() - started,
            requests=(self._count_requests() - requests_before if self._count_requests else None),
            interrupted=self._stopping,
            journal=None if self._journal_path is None else str(self._journal_path),
            journal_writes=statistics.writes,
            journal_seconds=statistics.seconds,
        )
