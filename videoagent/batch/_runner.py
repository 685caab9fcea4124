"""``BatchRunner``: many briefs to verified videos, resumable from its journal.

Each brief runs one state-driven loop: create it (through the client's active
slots, with its deterministic idempotency key), then wait on the client's
shared watcher and act on what the server says: a decision point gets the
``reply`` policy's answer, a failed run is retried by message (up to
``retries``), a result is (re-rendered if asked, then) downloaded and verified
into ``out`` and the brief is done. Nothing but the project id needs the
journal to resume: a re-run looks at the project and carries on from there.

A graceful ``stop()`` cancels every wait and creation, lets downloads that
have begun finish (they and their journal write are shielded), and leaves the
projects running for the next run.

Fleet mode (the client's ``Limits.backend`` is a ``videoagent.fleet``
backend): several processes may run the same batch (same briefs, same
``batch_id``). Each brief is then claimed by one process (``BriefClaims``),
its facts (project id, done, failed) shared, and a brief whose process died
is taken over by another; each process's summary lists the briefs it ran.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import anyio
import attrs

from videoagent._errors import APIError, ConflictError, VideoAgentError
from videoagent._events import StatusChanged, WatchEvent
from videoagent._models import Project, ProjectStatus

from ._briefs import Brief, BriefFileError, BriefProblem, BriefSet, briefs_from
from ._journal import (
    JOURNAL_NAME,
    Journal,
    JournalEntry,
    JournalLike,
    JournalStatistics,
    NullJournal,
)
from ._summary import BatchSummary, BriefOutcome, BriefUpdate

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent
    from videoagent._watcher import ProjectWatcher

__all__ = [
    "CREATE_COST",
    "DEFAULT_REPLY",
    "RETRY_MESSAGE",
    "BatchCreditsError",
    "BatchRunner",
    "BriefClaims",
    "ReplyPolicy",
]

#: Credits a create costs (the contract): the pre-flight needs this per new project.
CREATE_COST = 50
#: The answer to every decision point unless a ``reply`` policy says otherwise.
DEFAULT_REPLY = "Looks good: go ahead."
#: The message that retries a failed run.
RETRY_MESSAGE = "The last run failed: please try again."
#: Conflicting answers (409) in a row before a brief gives up.
_MAX_CONFLICTS = 3

ReplyPolicy = str | Callable[[Brief, Project], str | Awaitable[str]]
Mode = Literal["autonomous", "collaborative"]
Resolution = Literal["1080p", "4k"]


class BatchCreditsError(VideoAgentError):
    """The account's credits cannot cover the batch (50 a new project); nothing was sent."""

    def __init__(self, message: str, *, credits: int, needed: int) -> None:
        super().__init__(message)
        self.credits = credits
        self.needed = needed


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


class _ClaimingJournal:
    """A journal that also shares each brief's facts through the claims."""

    def __init__(self, inner: JournalLike, claims: BriefClaims) -> None:
        self._inner = inner
        self._claims = claims
        self.batch_id = inner.batch_id
        self.keys: dict[int, str] = {}
        self.projects: dict[int, str] = {}

    async def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        entries = await self._inner.register(briefs)
        for entry in entries:
            self.keys[entry.index] = entry.key
            if entry.project_id:
                self.projects[entry.index] = entry.project_id
        return entries

    async def record(self, index: int, **fields: Any) -> None:
        await self._inner.record(index, **fields)
        if fields.get("project_id"):
            self.projects[index] = fields["project_id"]
        state = fields.get("state")
        if state in ("created", "done", "failed"):
            await self._claims.record(self.keys[index], state, self.projects.get(index))

    def statistics(self) -> JournalStatistics:
        return self._inner.statistics()

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Failed(Exception):
    """A brief failed for good (internal): the message and request id to report."""

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@attrs.define
class _Brief:
    """A brief's working state during a run."""

    brief: Brief
    entry: JournalEntry
    project_id: str | None
    retries: int = 0
    replies: int = 0
    rendered: bool = False
    outcome: BriefOutcome | None = None
    elsewhere: bool = False  # fleet mode: another process finished it


class BatchRunner:
    """Turns briefs into verified video files in ``out``, crash-safe and resumable.

    Example::

        async with AsyncVideoAgent() as client:
            runner = BatchRunner(client, out="videos/", retries=2, reply="go ahead")
            summary = await runner.run(load_briefs("briefs.txt"))
        print(len(summary.done), "videos in", summary.out)

    Run the same batch again (same ``out``) after a crash or a stop and it
    resumes: done briefs stay done, created projects are picked up again, and
    no project is made twice.

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
        allow_partial: when credits cannot cover every new project, run the
            ones they cover and skip the rest (default: raise ``BatchCreditsError``).
        skip_invalid: send the good briefs of an input with bad records
            (default: raise ``BriefFileError`` before sending anything).
        concurrency: briefs in progress at once (default: active slots + 2).
        webhook_url: given to each create (a receiver then calls ``notify``).
        on_update: called with a ``BriefUpdate`` whenever a brief moves on.
        count_requests: a callable returning the API requests made so far
            (the summary reports the difference); ``None``: not counted.
        claims: share the batch's briefs with other processes; default: the
            client's fleet backend's claims in fleet mode, else none.
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
        claims: BriefClaims | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}")
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        self._client = client
        self._out = Path(out)
        if journal is True:
            self._journal_path: Path | None = self._out / JOURNAL_NAME
        elif journal is False:
            self._journal_path = None
        else:
            self._journal_path = Path(journal)
        self._batch_id = batch_id
        self._mode = mode
        self._retries = retries
        self._reply = reply
        self._allow_partial = allow_partial
        self._skip_invalid = skip_invalid
        self._concurrency = concurrency or (client.limits.active_projects or 5) + 2
        self._webhook_url = webhook_url
        self._on_update = on_update
        self._count_requests = count_requests
        self._scope: anyio.CancelScope | None = None
        self._stopping = False
        self._journal: JournalLike = NullJournal(batch_id)
        fleet = client._transport.fleet
        self._claims = claims if claims is not None else getattr(fleet, "claims", None)

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

        Raises ``BriefFileError`` (bad records, unless ``skip_invalid``),
        ``BatchCreditsError`` (credits short, unless ``allow_partial``) or
        ``JournalMismatchError`` (the journal holds another batch) before
        anything is sent.
        """
        started = time.perf_counter()
        requests_before = self._count_requests() if self._count_requests else 0
        brief_set = briefs if isinstance(briefs, BriefSet) else briefs_from(briefs)
        if brief_set.problems and not self._skip_invalid:
            raise BriefFileError(brief_set.problems)
        skipped = list(brief_set.problems)
        self._journal = await self._open_journal()
        if self._claims is not None:
            self._journal = _ClaimingJournal(self._journal, self._claims)
        try:
            entries = await self._journal.register(brief_set.briefs)
            # A brief that failed in an earlier run gets its retries afresh.
            work = [
                _Brief(
                    b,
                    e,
                    e.project_id,
                    0 if e.state == "failed" else e.retries,
                    e.replies,
                    e.rendered,
                )
                for b, e in zip(brief_set.briefs, entries, strict=False)
            ]
            balance = await self._preflight(work, skipped)
            await anyio.to_thread.run_sync(self._prepare_out, work)
            watcher = self._client._require_watcher()
            limiter = anyio.CapacityLimiter(self._concurrency)
            self._scope = anyio.CancelScope()
            if self._stopping:
                self._scope.cancel()
            with self._scope:
                if self._claims is not None:
                    await self._run_claimed(work, watcher, limiter, self._claims)
                else:
                    async with anyio.create_task_group() as group:
                        for item in work:
                            if item.outcome is None:
                                group.start_soon(self._brief, item, watcher, limiter)
            credits_used = await self._credits_used(balance)
        finally:
            with anyio.CancelScope(shield=True):
                await self._journal.aclose()
        return self._summary(work, skipped, started, requests_before, credits_used)

    async def _open_journal(self) -> JournalLike:
        if self._journal_path is None:
            return NullJournal(self._batch_id)
        return await Journal.open(self._journal_path, batch_id=self._batch_id)

    async def _preflight(self, work: list[_Brief], skipped: list[BriefProblem]) -> int | None:
        """Check the credits cover every brief without a project yet; the balance."""
        for item in work:
            if item.entry.state == "done":
                item.outcome = await self._resumed(item)
        new = [item for item in work if item.outcome is None and item.project_id is None]
        account = await self._client.account.get()
        needed = CREATE_COST * len(new)
        if account.credits >= needed:
            return account.credits
        affordable = account.credits // CREATE_COST
        if not self._allow_partial:
            raise BatchCreditsError(
                f"the account has {account.credits:,} credits but the batch needs {needed:,} "
                f"({CREATE_COST} for each of {len(new)} new projects); top up, or allow a "
                f"partial run of the first {affordable}",
                credits=account.credits,
                needed=needed,
            )
        for item in new[affordable:]:
            item.outcome = BriefOutcome(item.brief.index, item.entry.file_name, "pending")
            skipped.append(
                BriefProblem(
                    item.brief.source or f"brief {item.brief.index + 1}",
                    f"skipped: not enough credits ({account.credits:,} cover {affordable} "
                    "new projects)",
                    item.brief.index,
                )
            )
        return account.credits

    async def _resumed(self, item: _Brief) -> BriefOutcome | None:
        """A brief done in an earlier run, if its file is still there at its size."""
        entry = item.entry
        if entry.path is None:
            return None
        try:
            stat = await anyio.Path(entry.path).stat()
        except OSError:
            return None
        if stat.st_size != entry.size:
            return None
        return BriefOutcome(
            entry.index,
            entry.file_name,
            "done",
            project_id=entry.project_id,
            path=entry.path,
            sha256=entry.sha256,
            size=entry.size,
            retries=entry.retries,
            replies=entry.replies,
            resumed=True,
        )

    def _prepare_out(self, work: list[_Brief]) -> None:
        """Make ``out``, and remove partial downloads a killed run left behind."""
        self._out.mkdir(parents=True, exist_ok=True)
        if self._claims is not None:  # another process may be writing one right now
            return
        for item in work:
            if item.outcome is None:
                for partial in self._out.glob(f".{item.entry.file_name}.*.part"):
                    partial.unlink(missing_ok=True)

    async def _credits_used(self, balance: int | None) -> int | None:
        if balance is None:
            return None
        with anyio.CancelScope(shield=True), anyio.move_on_after(30 * self._client.time_scale + 5):
            try:
                return balance - (await self._client.account.get()).credits
            except APIError:
                return None
        return None

    async def _run_claimed(
        self,
        work: list[_Brief],
        watcher: ProjectWatcher,
        limiter: anyio.CapacityLimiter,
        claims: BriefClaims,
    ) -> None:
        """Fleet mode: run the briefs this process claims, until every brief is settled.

        Briefs held by live processes are looked at again every
        ``claims.recheck`` seconds (or when one of ours ends): a process that
        died leaves its briefs to the next one that asks.
        """
        unlimited = anyio.CapacityLimiter(math.inf)  # the limiter is taken here, per claim
        running: set[int] = set()
        changed = [anyio.Event()]
        tokens = {item.brief.index: object() for item in work}  # limiter borrowers

        async def run_one(item: _Brief) -> None:
            try:
                await self._brief(item, watcher, unlimited)
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
                        if isinstance(self._journal, _ClaimingJournal):
                            self._journal.projects[item.brief.index] = project_id
                    running.add(item.brief.index)
                    group.start_soon(run_one, item)
                with anyio.move_on_after(claims.recheck):
                    await changed[0].wait()
                changed[0] = anyio.Event()

    # -- one brief ------------------------------------------------------------------

    def _update(self, item: _Brief, state: str, detail: str | None = None) -> None:
        if self._on_update is not None:
            self._on_update(
                BriefUpdate(item.brief.index, item.entry.file_name, state, item.project_id, detail)
            )

    async def _brief(
        self, item: _Brief, watcher: ProjectWatcher, limiter: anyio.CapacityLimiter
    ) -> None:
        try:
            async with limiter:
                await self._drive(item, watcher)
        except _Failed as failure:
            await self._fail(item, failure.message, failure.request_id)
        except VideoAgentError as exc:
            await self._fail(
                item, str(getattr(exc, "message", exc)), getattr(exc, "request_id", None)
            )
        except anyio.get_cancelled_exc_class():
            if self._stopping and item.outcome is None:
                self._update(item, "stopped")
            raise

    async def _fail(self, item: _Brief, message: str, request_id: str | None) -> None:
        item.outcome = self._outcome(item, "failed", error=message, request_id=request_id)
        await self._journal.record(
            item.brief.index, state="failed", error=message, request_id=request_id
        )
        self._update(item, "failed", message)

    async def _drive(self, item: _Brief, watcher: ProjectWatcher) -> None:
        """Create (or pick up) the brief's project and follow it to a verified file."""
        projects = self._client.projects
        brief = item.brief
        first: Project | str
        if item.project_id is None:
            self._update(item, "creating")
            project = await projects.create(
                brief.text,
                mode=cast("Mode | None", brief.mode or self._mode),
                idempotency_key=item.entry.key,
                webhook_url=self._webhook_url,
                metadata=brief.metadata,
            )
            item.project_id = project.id
            await self._journal.record(
                brief.index, state="created", project_id=project.id, status=project.status.value
            )
            self._update(item, _state_of(project))
            first = project
        else:
            self._update(item, "resuming")
            first = item.project_id
        project_id = item.project_id

        def on_event(event: WatchEvent) -> None:
            if isinstance(event, StatusChanged):
                self._update(item, _state_of(event.project))

        watcher.watch(first, on_event=on_event)
        try:
            await self._follow(item, watcher, project_id)
        finally:
            watcher.unwatch(project_id)

    async def _follow(self, item: _Brief, watcher: ProjectWatcher, project_id: str) -> None:
        projects = self._client.projects
        conflicts = 0
        while True:
            project = await watcher.wait(project_id)
            try:
                if await self._act(item, project):
                    return
                conflicts = 0
            except ConflictError as exc:  # the project moved on meanwhile: look again
                conflicts += 1
                if conflicts >= _MAX_CONFLICTS:
                    raise
                await projects.get(project_id)
                del exc

    async def _act(self, item: _Brief, project: Project) -> bool:
        """Do what the project's state calls for; True once the brief is finished."""
        projects = self._client.projects
        index = item.brief.index
        status = project.status
        if status is ProjectStatus.IDLE and project.has_result:
            render = item.brief.render
            if render is not None and not item.rendered:
                self._update(item, "rendering", f"at {render}")
                await projects.render(project.id, resolution=cast("Resolution", render))
                item.rendered = True
                await self._journal.record(index, rendered=True, status="rendering")
                return False
            with anyio.CancelScope(shield=True):  # a stop lets a begun download finish
                await self._download(item, project)
            return True
        if status is ProjectStatus.IDLE:  # a decision point
            text = await self._answer(item.brief, project)
            self._update(item, "replying", project.agent_message)
            await projects.send_message(project.id, text)
            item.replies += 1
            await self._journal.record(index, replies=item.replies, status="queued")
            return False
        if status is ProjectStatus.FAILED:
            error = project.error_message or "the project failed"
            if item.retries >= self._retries:
                raise _Failed(
                    f"{error} (after {item.retries} retr{'y' if item.retries == 1 else 'ies'})",
                    project.request_id,
                )
            self._update(item, "retrying", error)
            await projects.send_message(project.id, RETRY_MESSAGE)
            item.retries += 1
            await self._journal.record(index, retries=item.retries, status="queued")
            return False
        if status is ProjectStatus.CANCELLED:
            raise _Failed("the project was cancelled", project.request_id)
        raise _Failed(f"the project ended in status {project.raw_status!r}", project.request_id)

    async def _answer(self, brief: Brief, project: Project) -> str:
        if isinstance(self._reply, str):
            return self._reply
        answer = self._reply(brief, project)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, str) or not answer:
            raise _Failed(f"the reply policy answered {answer!r}, not a text", None)
        return answer

    async def _download(self, item: _Brief, project: Project) -> None:
        self._update(item, "downloading")
        destination = self._out / item.entry.file_name
        path = await self._client.projects.download(project.id, destination)
        size, digest = await anyio.to_thread.run_sync(_hash_file, path)
        await self._journal.record(
            item.brief.index,
            state="done",
            status=project.status.value,
            path=str(path),
            sha256=digest,
            size=size,
            error=None,
            request_id=None,
        )
        item.outcome = self._outcome(item, "done", path=str(path), sha256=digest, size=size)
        self._update(item, "done", str(path))

    def _outcome(
        self, item: _Brief, state: Literal["done", "failed", "pending"], **fields: Any
    ) -> BriefOutcome:
        return BriefOutcome(
            item.brief.index,
            item.entry.file_name,
            state,
            project_id=item.project_id,
            retries=item.retries,
            replies=item.replies,
            **fields,
        )

    # -- the summary ------------------------------------------------------------------

    def _summary(
        self,
        work: list[_Brief],
        skipped: list[BriefProblem],
        started: float,
        requests_before: int,
        credits_used: int | None,
    ) -> BatchSummary:
        skipped_indexes = {p.index for p in skipped}
        outcomes = [
            item.outcome or self._outcome(item, "pending")
            for item in work
            if item.brief.index not in skipped_indexes and not item.elsewhere
        ]
        statistics = self._journal.statistics()
        return BatchSummary(
            batch_id=self._journal.batch_id,
            out=str(self._out),
            done=tuple(o for o in outcomes if o.state == "done"),
            failed=tuple(o for o in outcomes if o.state == "failed"),
            pending=tuple(o for o in outcomes if o.state == "pending"),
            skipped=tuple(sorted(skipped, key=lambda p: p.index if p.index is not None else -1)),
            credits_used=credits_used,
            wall_time=time.perf_counter() - started,
            requests=(self._count_requests() - requests_before if self._count_requests else None),
            interrupted=self._stopping,
            journal=None if self._journal_path is None else str(self._journal_path),
            journal_writes=statistics.writes,
            journal_seconds=statistics.seconds,
        )


def _state_of(project: Project) -> str:
    """A project's status as a ``BriefUpdate`` state (a failed *run* is not a failed brief)."""
    return "run failed" if project.status is ProjectStatus.FAILED else project.raw_status


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
