"""``CeleryBatchRunner``: submit a batch to Celery workers, follow it, sum it up.

The submitter does what the local runner does before anything is sent (the
briefs checked, the credits and the plan looked at, briefs done earlier
found), then hands the open briefs to the workers (``BatchStore.open_run``:
the first ``concurrency`` start at once, each one that ends starts the
next), shows their progress from the batch's event stream, and ends with the
same summary as a local run, read from the batch's state in Redis.

The batch's id is kept in ``out`` (``.videoagent-celery.json``), so the same
command run again (same briefs, same ``--out``) finds its state and resumes
it: done briefs stay done, created projects are picked up, a lost create is
replayed by its key. A folder a local batch wrote first lends its journal's
batch id, so the same briefs give the same idempotency keys there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from celery import Celery

from videoagent.batch import (
    DEFAULT_REPLY,
    JOURNAL_NAME,
    BatchSummary,
    Brief,
    BriefOutcome,
    BriefProblem,
    BriefSet,
    BriefUpdate,
    JournalEntry,
    JournalMismatchError,
)
from videoagent.batch._credits import check_credits, credits_spent
from videoagent.batch._preflight import brief_window, check_plan, checked, resume_done
from videoagent.batch._work import BriefWork

from ._celery_config import CelerySettings, settings
from ._celery_store import BatchStore, Message, Policy
from ._celery_tasks import CREATE, DOWNLOAD

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent

__all__ = ["MARKER_NAME", "CeleryBatchRunner"]

#: The file in ``out`` that names the batch whose state is in Redis.
MARKER_NAME = ".videoagent-celery.json"
#: Real seconds between full reads of the briefs' states while following.
_RECHECK = 2.0
_FINISHED = frozenset({"done", "failed", "stopped"})


class CeleryBatchRunner:
    """Runs a batch on Celery workers: the ``BatchRunner`` of ``--engine celery``.

    Example::

        backend = RedisBackend(url=redis_url, polling="queue")
        async with AsyncVideoAgent(limits_backend=backend) as client:
            runner = CeleryBatchRunner(client, out="/shared/videos", redis=redis)
            summary = await runner.run(load_briefs("briefs.txt"))

    The workers must reach ``out`` at the same path (a shared volume). The
    options mean what ``BatchRunner``'s do; ``reply`` is a text (it travels to
    the workers). ``client`` makes the pre-flight's requests (the account):
    give it the fleet's limits.

    Args:
        client: the submitter's client (entered).
        out: the folder for the videos (shared with every worker).
        redis: the Redis where the batch's state lives (``decode_responses``).
        app: the Celery app whose broker the workers listen on.
        batch_id: the batch's id (default: the one ``out`` names, or a new one).
        mode, retries, reply, allow_partial, skip_invalid, concurrency,
        on_update, count_requests: as ``BatchRunner``'s.
        config: the workers' settings (default: from the environment): how long
            a step may take, so that a chain that stalls (a message lost with a
            killed worker) is sent on again after that.
    """

    def __init__(
        self,
        client: AsyncVideoAgent,
        *,
        out: str | os.PathLike[str],
        redis: Any,
        app: Celery,
        batch_id: str | None = None,
        mode: str | None = None,
        retries: int = 2,
        reply: str = DEFAULT_REPLY,
        allow_partial: bool = False,
        skip_invalid: bool = False,
        concurrency: int | None = None,
        on_update: Callable[[BriefUpdate], object] | None = None,
        count_requests: Callable[[], int] | None = None,
        config: CelerySettings | None = None,
    ) -> None:
        active = client.limits.active_projects
        self._concurrency = brief_window(active, retries=retries, concurrency=concurrency)
        self._client = client
        self._out = Path(out)
        self._redis = redis
        self._app = app
        self._batch_id = batch_id
        self._policy = Policy(str(self._out.absolute()), mode, retries, reply)
        self._allow_partial = allow_partial
        self._skip_invalid = skip_invalid
        self._on_update = on_update
        self._count_requests = count_requests
        self._config = config or settings()
        self._stopping = False
        self.store: BatchStore | None = None

    @property
    def stopping(self) -> bool:
        """``stop()`` was called."""
        return self._stopping

    def stop(self) -> None:
        """Stop gracefully: no new project is made (on any worker); projects made go on
        to their videos on the workers. The summary lists the unfinished ``pending``;
        the same batch run again follows and resumes them."""
        self._stopping = True

    async def run(
        self, briefs: BriefSet | Iterable[str | Brief | Mapping[str, Any]]
    ) -> BatchSummary:
        """Submit the batch, follow it to the end (or ``stop()``); the summary.

        Raises before anything is sent what ``BatchRunner.run`` raises
        (``JournalMismatchError``: ``out`` or Redis holds another batch).
        """
        started = time.perf_counter()
        requests_before = self._count_requests() if self._count_requests else 0
        brief_set, skipped = checked(briefs, skip_invalid=self._skip_invalid)
        batch_id = await anyio.to_thread.run_sync(self._claim_out)
        store = self.store = BatchStore(self._redis, batch_id)
        entries = await anyio.to_thread.run_sync(store.register, brief_set.briefs)
        work = [BriefWork.resume(b, e) for b, e in zip(brief_set.briefs, entries, strict=True)]
        await resume_done(work)
        account = await self._client.account.get()
        mode = self._policy.mode
        check_plan(account, work, skipped, skip_invalid=self._skip_invalid)
        check_credits(account, work, skipped, allow_partial=self._allow_partial, mode=mode)
        opened = [item for item in work if item.outcome is None]
        cursor = await anyio.to_thread.run_sync(store.last_event)
        starts = await anyio.to_thread.run_sync(
            lambda: store.open_run(
                self._policy,
                [item.entry for item in opened],
                concurrency=self._concurrency,
                start=CREATE,
            )
        )
        for message in starts:
            await anyio.to_thread.run_sync(self._send, message)
        await self._follow(store, cursor, {item.brief.index for item in opened})
        if self._stopping:
            await anyio.to_thread.run_sync(store.stop)
        finals = await anyio.to_thread.run_sync(store.entries, [i.brief.index for i in opened])
        halted = await anyio.to_thread.run_sync(store.halted, [i.brief.index for i in opened])
        for item, entry, reason in zip(opened, finals, halted, strict=True):
            item.outcome = _outcome(item, entry)
            if reason is not None and reason.startswith("credits"):
                skipped.append(BriefProblem(_where(item.brief), f"skipped: {reason}", entry.index))
        return BatchSummary.of(
            (item.outcome or item.to_outcome("pending") for item in work),
            skipped=skipped,
            batch_id=batch_id,
            out=str(self._out),
            credits_used=await credits_spent(self._client, account.credits),
            wall_time=time.perf_counter() - started,
            requests=(self._count_requests() - requests_before if self._count_requests else None),
            interrupted=self._stopping,
            journal=store.where,
        )

    def _send(self, message: Message) -> None:
        self._app.send_task(
            message.task, kwargs=message.kwargs, countdown=message.countdown or None
        )

    def _claim_out(self) -> str:
        """The batch's id, kept in ``out`` (made and written there the first time)."""
        self._out.mkdir(parents=True, exist_ok=True)
        marker = self._out / MARKER_NAME
        try:
            known: str | None = str(json.loads(marker.read_text())["batch_id"])
        except FileNotFoundError:
            known = None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JournalMismatchError(f"{marker} is not a batch marker: {exc}") from exc
        if known is not None:
            if self._batch_id is not None and self._batch_id != known:
                raise JournalMismatchError(
                    f"{self._out} holds batch {known!r}, not {self._batch_id!r}"
                )
            return known
        chosen = self._batch_id or _journal_batch_id(self._out / JOURNAL_NAME)
        chosen = chosen or uuid.uuid4().hex[:16]
        marker.write_text(json.dumps({"batch_id": chosen}) + "\n")
        return chosen

    async def _follow(self, store: BatchStore, cursor: str, opened: set[int]) -> None:
        """Show the progress of the ``opened`` briefs until each ended (or a stop)."""
        ended: set[int] = set()
        checked_at = time.monotonic()
        while not self._stopping:
            if len(ended) >= len(opened) or time.monotonic() - checked_at > _RECHECK:
                checked_at = time.monotonic()
                ended = await anyio.to_thread.run_sync(_ended, store, opened)
                if ended >= opened:
                    return
                lost = await anyio.to_thread.run_sync(
                    store.stalled, sorted(opened - ended), self._patience
                )
                for message in lost:
                    await anyio.to_thread.run_sync(self._send, message)
            # (a stop is seen within the half second a read waits at most)
            cursor, updates = await anyio.to_thread.run_sync(store.read_events, cursor, 0.5)
            for update in updates:
                if update.index in opened:
                    if update.state in _FINISHED:
                        ended.add(update.index)
                    self._update(update)

    def _patience(self, message: Message) -> float:
        """Real seconds a chain waiting for ``message`` may take before it counts as lost:
        its countdown, the visibility timeout (a dead worker's message comes back after
        it) and the step's time limit."""
        config = self._config
        limit = config.download_time_limit if message.task == DOWNLOAD else config.step_time_limit
        return message.countdown + config.visibility_timeout + limit + 1.0

    def _update(self, update: BriefUpdate) -> None:
        if self._on_update is None:
            return
        with contextlib.suppress(Exception):  # a display's bug must not stop the batch
            self._on_update(update)


def _ended(store: BatchStore, indexes: set[int]) -> set[int]:
    """The briefs whose chain ended: done, failed, or halted."""
    order = sorted(indexes)
    entries = store.entries(order)
    halted = store.halted(order)
    return {
        entry.index
        for entry, reason in zip(entries, halted, strict=True)
        if entry.state in ("done", "failed") or reason is not None
    }


def _outcome(item: BriefWork, entry: JournalEntry) -> BriefOutcome:
    """The brief's outcome from its state in Redis."""
    item = BriefWork.resume(item.brief, entry, afresh=False)
    if entry.state in ("done", "failed"):
        return item.to_outcome(
            "done" if entry.state == "done" else "failed",
            path=entry.path,
            sha256=entry.sha256,
            size=entry.size,
            error=entry.error,
            request_id=entry.request_id,
        )
    return item.to_outcome("pending")


def _where(brief: Brief) -> str:
    return brief.source or f"brief {brief.index + 1}"


def _journal_batch_id(path: Path) -> str | None:
    """The batch id of a local run's journal there, read only (None: none)."""
    if not path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT value FROM meta WHERE key='batch_id'").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])
