"""The steps of a brief's chain on Celery, and the client each worker process drives.

A brief is a chain of short tasks (the chain's bookkeeping is
``_celery_store``'s); each step looks, decides and acts, then schedules the
next one:

- ``create``: sends the brief's create with the batch's deterministic
  idempotency key (a redelivered create replays it: the API answers with the
  same project), then schedules the first poll for when its status calls for
  one;
- ``poll``: one GET (``client.projects.poll``), then what the status means
  for the brief, decided by ``videoagent.batch``'s ``next_step`` (the local
  engine's decision too): still running, the next poll with the contract's
  delay (no worker sleeps through a project); at a decision point, the reply;
  failed, the retry by message; a result, the re-render if asked, else the
  download. The reply, retry and render are sent in the step that saw their
  need, right after the GET that showed it (so a redelivered step looks
  again before it acts: a reply whose answer was lost finds the project
  running and sends nothing);
- ``download``: the verified download (temporary file, size and sha256,
  rename) into ``out``, unless the file is there already with the result's
  sha256; the brief is done, and the next waiting brief starts.

Retries: the SDK retries requests (backoff, ``Retry-After``, a resend that
looks first for what may have arrived); a step never retries what a request
already did, and an API error it is left with ends the brief ``failed``, as
in a local batch. A Celery retry (``self.retry``) is only for what the SDK
cannot cover: the batch's Redis state unreachable, another delivery of the
same step running (``busy``), or a step past its soft time limit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from videoagent import _cadence
from videoagent._config import PollPolicy
from videoagent._errors import (
    ConflictError,
    InsufficientCreditsError,
    PermissionDeniedError,
    VideoAgentError,
)
from videoagent._models import MessageAccepted, Project, Result
from videoagent._projects import PollStep
from videoagent.batch import BriefUpdate
from videoagent.batch import _steps as steps
from videoagent.batch._work import BriefWork
from videoagent.fleet import SlotWaitTimeoutError

from ._celery_store import BatchStore, Due, Message

if TYPE_CHECKING:
    from videoagent import VideoAgent

__all__ = [
    "CREATE",
    "DOWNLOAD",
    "POLL",
    "Busy",
    "PerProcess",
    "StepRunner",
    "close_worker_client",
    "worker_client",
]

logger = logging.getLogger("videoagent.celery")

T = TypeVar("T")

#: The tasks' names (the same in every app that ``install``s them).
CREATE = "videoagent.batch.create"
POLL = "videoagent.batch.poll"
DOWNLOAD = "videoagent.batch.download"
#: Conflicting answers (409) in a row before a brief gives up (as the local pipeline).
_MAX_CONFLICTS = 3

# -- the worker's client -------------------------------------------------------------------


class PerProcess(Generic[T]):
    """A value made once per process, on first use: after a fork, the child makes its
    own (a prefork child never uses what its parent made)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: tuple[int, T] | None = None

    def get(self) -> T:
        """This process's value."""
        with self._lock:
            if self._made is None or self._made[0] != os.getpid():
                self._made = (os.getpid(), self._make())
            return self._made[1]

    def take(self) -> T | None:
        """This process's value if it made one, forgotten here (to close it)."""
        with self._lock:
            made, self._made = self._made, None
        return made[1] if made is not None and made[0] == os.getpid() else None


def _make_client() -> VideoAgent:
    from ._celery_config import make_worker_client  # noqa: PLC0415 - the blocking client

    return make_worker_client()


_client: PerProcess[VideoAgent] = PerProcess(_make_client)


def worker_client() -> VideoAgent:
    """This worker process's client: one ``VideoAgent`` per process, made on first use.

    Made after the fork: a prefork child never uses its parent's (its event
    loop runs in a thread the fork did not copy). Its limits are the fleet's
    (``VIDEOAGENT_REDIS_URL``, polled by the queue: ``RedisBackend(polling=
    "queue")``, with a bounded wait for an active slot), so every process of
    every worker shares the account's request budget and its 5 active slots.
    """
    return _client.get()


def close_worker_client() -> None:
    """Close this process's client (a worker process shutting down)."""
    client = _client.take()
    if client is not None:
        client.close()


class _Projects(Protocol):
    """What the steps call of ``client.projects`` (``VideoAgent``'s blocking face)."""

    def create(
        self,
        brief: str,
        *,
        mode: Any = None,
        idempotency_key: str | None = None,
        metadata: Any = None,
    ) -> Project: ...
    def poll(
        self, project_id: str, *, since: float | None = None, previous: str | None = None
    ) -> PollStep: ...
    def send_message(self, project_id: str, content: str) -> MessageAccepted: ...
    def render(self, project_id: str, *, resolution: Any = None) -> Project: ...
    def result(self, project_id: str) -> Result: ...
    def download(self, project_id: str, path: Path) -> Path: ...


class _Client(Protocol):
    @property
    def projects(self) -> _Projects: ...
    @property
    def time_scale(self) -> float: ...


class Busy(Exception):
    """Another delivery of this step runs now: try again later (a Celery retry)."""


@attrs.frozen
class _Outcome:
    """What a step leads to: the next messages, and whether the brief's chain ended
    (with the update that says how, sent once the chain has moved on)."""

    messages: tuple[Message, ...] = ()
    ended: BriefUpdate | None = None


class StepRunner:
    """Runs one step of one brief (``create``, ``poll`` or ``download``).

    Args:
        store: the batch's state.
        client: the worker's client (blocking).
        send: sends a task message (``app.send_task``).
        lock: seconds a step's lock lasts (past its hard time limit); ``None``
            for steps safe to run twice at once (a download).
    """

    def __init__(
        self,
        store: BatchStore,
        client: _Client,
        send: Callable[[Message], object],
        *,
        lock: float | None,
    ) -> None:
        self._store = store
        self._client = client
        self._send = send
        self._lock = lock

    def run(self, kind: str, index: int, gen: int, **kwargs: Any) -> None:
        """Run step ``gen`` of brief ``index`` if it is due (else exit, or resend its
        messages); raises ``Busy`` if another delivery of it runs now."""
        store = self._store
        token = uuid.uuid4().hex
        begun = store.begin(index, gen, token, self._lock)
        if begun.outcome == "busy":
            raise Busy(f"step {gen} of brief {index} runs elsewhere")
        if begun.outcome == "resend":  # done before a crash: its messages maybe not sent
            self._deliver(index, gen + 1, begun.outbox)
            return
        if begun.due is None:  # a stale or duplicate delivery
            logger.debug("brief %s step %s: %s, nothing to do", index, gen, begun.outcome)
            return
        step = _Step(store, self._client, begun.due)
        try:
            outcome = step.run(kind, **kwargs)
        except BaseException:
            if self._lock is not None:
                store.unlock(index, token)
            raise
        ended = outcome.ended is not None
        messages = [attrs.evolve(m, kwargs={**m.kwargs, "gen": gen + 1}) for m in outcome.messages]
        outbox = store.advance(index, gen, messages, ended=ended, start=CREATE, token=token)
        if outbox is None:  # the chain moved on meanwhile (a new run): this step's word is void
            return
        if outcome.ended is not None:
            store.event(outcome.ended)
        self._deliver(index, gen + 1, outbox)

    def _deliver(self, index: int, gen: int, outbox: tuple[Message, ...] | list[Message]) -> None:
        for message in outbox:
            self._send(message)
        self._store.sent(index, gen)


class _Step:
    """One step's work on one brief (see the module docstring)."""

    def __init__(self, store: BatchStore, client: _Client, due: Due) -> None:
        self._store = store
        self._client = client
        self._policy = due.policy
        self._stopping = due.stopping
        self._conflicts = due.conflicts
        self._item = BriefWork.resume(due.brief, due.entry, afresh=False)
        self._index = due.brief.index

    def run(self, kind: str, **kwargs: Any) -> _Outcome:
        try:
            if kind == "create":
                return self._create()
            if kind == "poll":
                return self._poll(kwargs.get("since"), kwargs.get("previous"))
            return self._download()
        except SlotWaitTimeoutError:  # no active slot yet: look again, freeing the worker
            return self._next(CREATE if self._item.project_id is None else POLL)
        except VideoAgentError as exc:  # what the SDK's retries could not mend
            return self._fail(str(getattr(exc, "message", exc)), getattr(exc, "request_id", None))

    # -- helpers -------------------------------------------------------------------------

    def _update(self, state: str, detail: str | None = None) -> BriefUpdate:
        item = self._item
        return BriefUpdate(self._index, item.entry.file_name, state, item.project_id, detail)

    def _event(self, state: str, detail: str | None = None) -> None:
        self._store.event(self._update(state, detail))

    def _record(self, **fields: Any) -> None:
        if fields:
            self._store.record(self._index, **fields)

    def _next(
        self,
        task: str,
        *,
        countdown: float = 0.0,
        since: float | None = None,
        previous: str | None = None,
    ) -> _Outcome:
        kwargs: dict[str, Any] = {"batch_id": self._store.batch_id, "index": self._index}
        if task == POLL:
            kwargs.update(since=since, previous=previous)
        return _Outcome((Message(task, kwargs, countdown),))

    def _poll_after(self, project: Project) -> _Outcome:
        """The next poll when ``project``'s status (just set by an action) calls for it."""
        now = time.time()
        scale = self._client.time_scale
        delay = _cadence.interval(
            PollPolicy(), project.status, errors=0, since=now, now=now, time_scale=scale
        )
        countdown = 0.0 if delay == _cadence.INF else delay * scale
        return self._next(POLL, countdown=countdown, since=now, previous=project.raw_status)

    def _fail(self, message: str, request_id: str | None) -> _Outcome:
        self._record(state="failed", error=message, request_id=request_id)
        return _Outcome(ended=self._update("failed", message))

    def _halt(self, reason: str) -> _Outcome:
        """The chain ends without an outcome: the brief is left for the next run."""
        self._record(halted=reason)
        return _Outcome(ended=self._update("stopped", reason))

    # -- the steps -----------------------------------------------------------------------

    def _create(self) -> _Outcome:
        item = self._item
        if item.project_id is not None:  # made before (a resumed brief): look at it
            self._event("resuming")
            return self._next(POLL)
        if self._stopping:
            return self._halt("stopped: left for the next run")
        brief = item.brief
        params, record = steps.create_params(item, self._policy.mode, None)
        self._record(**record)
        self._event("creating")
        try:
            project = self._client.projects.create(
                brief.text,
                mode=params.mode,
                idempotency_key=item.entry.key,
                metadata=params.metadata,
            )
        except steps.REFUSED_PARAMS:
            self._record(**steps.forget_create_params(item))
            raise
        except InsufficientCreditsError:
            return self._halt("credits ran low: left for the next run")
        item.project_id = project.id
        self._record(state="created", project_id=project.id, status=project.status.value)
        self._event(steps.state_of(project))
        return self._poll_after(project)

    def _poll(self, since: float | None, previous: str | None) -> _Outcome:
        item = self._item
        if item.project_id is None:  # (a new run's first step of a brief never created)
            return self._create()
        step = self._client.projects.poll(item.project_id, since=since, previous=previous)
        project = step.project
        if project.raw_status != previous:
            self._event(steps.state_of(project))
        try:
            outcome = self._act(project, step)
        except ConflictError as exc:  # the project moved on meanwhile: look again
            conflicts = self._conflicts + 1
            if conflicts >= _MAX_CONFLICTS:
                return self._fail(exc.message, exc.request_id)
            self._record(conflicts=conflicts)
            return self._next(POLL)
        if self._conflicts:
            self._record(conflicts=None)
        return outcome

    def _act(self, project: Project, step: PollStep) -> _Outcome:
        """Do what ``next_step`` says the project's state calls for."""
        item = self._item
        projects = self._client.projects
        while True:
            decided = steps.next_step(item, project, retries=self._policy.retries)
            self._record(**decided.record)
            match decided.action:
                case steps.Action.WAIT:
                    return self._next(
                        POLL,
                        countdown=step.countdown or 0.0,
                        since=step.since,
                        previous=project.raw_status,
                    )
                case steps.Action.RENDER:
                    resolution = decided.resolution
                    self._event("rendering", f"at {resolution}")
                    self._record(render_from=decided.stamp)
                    try:
                        project = projects.render(project.id, resolution=resolution)
                    except PermissionDeniedError as exc:
                        refused = steps.render_refusal(str(resolution), exc.message, exc.request_id)
                        item.render_refused = refused
                        self._record(render_from=None, render_refused=refused)
                        continue  # the first result is downloaded and kept
                    item.rendered = True
                    self._record(rendered=True, status="rendering", render_refused=None)
                    return self._poll_after(project)
                case steps.Action.DOWNLOAD:
                    return self._next(DOWNLOAD)
                case steps.Action.REPLY:
                    self._event("replying", project.agent_message)
                    accepted = projects.send_message(project.id, self._policy.reply)
                    item.replies += 1
                    self._record(replies=item.replies, status="queued")
                    return self._poll_after(accepted.project)
                case steps.Action.RETRY:
                    self._event("retrying", decided.error)
                    self._record(retry_from=decided.stamp)
                    try:
                        accepted = projects.send_message(project.id, steps.RETRY_MESSAGE)
                    except ConflictError:  # refused: no retry was made
                        self._record(retry_from=None)
                        raise
                    item.retries += 1
                    self._record(retries=item.retries, retry_from=None, status="queued")
                    return self._poll_after(accepted.project)
                case steps.Action.FAIL:
                    return self._fail(decided.error or "the project failed", decided.request_id)

    def _download(self) -> _Outcome:
        item = self._item
        project_id = item.project_id
        assert project_id is not None  # a download follows a poll of the project
        destination = Path(self._policy.out) / item.entry.file_name
        found = None
        if destination.exists():  # a redelivered download, or a re-run: is it the video?
            found = _verified_file(destination, self._client.projects.result(project_id))
        if found is None:
            self._event("downloading")
            path = self._client.projects.download(project_id, destination)
            size, digest = steps.file_digest(path)
        else:  # nothing is downloaded twice
            path, (size, digest) = destination, found
        fields = steps.downloaded(item, path, size, digest)
        self._record(**fields)
        return _Outcome(ended=self._update(fields["state"], fields["error"] or str(path)))


def _verified_file(path: Path, result: Result) -> tuple[int, str] | None:
    """The file's size and sha256 if it is there and is the result's video, else None."""
    try:
        if path.stat().st_size != result.size_bytes:
            return None
        found = steps.file_digest(path)
    except OSError:
        return None
    return found if found[1] == result.sha256 else None
