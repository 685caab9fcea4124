"""What a brief does next, given its project: the decision both batch engines make.

The local pipeline (``_pipeline``: one process, awaiting the client's shared
watcher) and the Celery chain (``videoagent.integrations.celery``: short
tasks on workers) each look at a brief's project and ask the same question;
``next_step`` answers it for both:

- still running (any status but idle, failed, cancelled): ``WAIT``, poll again;
- idle with a result: ``RENDER`` the brief's re-render once, else ``DOWNLOAD``
  and verify (a refused re-render keeps the first result: the brief fails
  with the reason and that file);
- idle without a result, a decision point: ``REPLY``;
- failed: ``RETRY`` by message while retries are left, else ``FAIL``;
- cancelled: ``FAIL``.

It also settles what an earlier run left unanswered: a retry or a re-render
journaled as sent (``retry_from``/``render_from``: the project's
``updated_at`` then) arrived if the project changed since. Each engine then
carries the step out its own way, and records what it learns with the helpers
here (``create_params``, ``forget_create_params``, ``render_refusal``,
``downloaded``), so both journal the same facts.
"""

from __future__ import annotations

import enum
import hashlib
from pathlib import Path
from typing import Any

import attrs

from videoagent._errors import InvalidRequestError, PayloadTooLargeError, ValidationError
from videoagent._models import Project, ProjectStatus

from ._summary import OutcomeState
from ._work import BriefWork, CreateParams

__all__ = [
    "DEFAULT_REPLY",
    "REFUSED_PARAMS",
    "RETRY_MESSAGE",
    "Action",
    "Step",
    "create_params",
    "downloaded",
    "file_digest",
    "forget_create_params",
    "next_step",
    "render_refusal",
    "state_of",
]

#: The answer to every decision point unless a ``reply`` policy says otherwise.
DEFAULT_REPLY = "Looks good: go ahead."
#: The message that retries a failed run.
RETRY_MESSAGE = "The last run failed: please try again."
#: What a create's parameters may be refused with (no project was made).
REFUSED_PARAMS = (InvalidRequestError, ValidationError, PayloadTooLargeError)


class Action(enum.Enum):
    """What a brief does next."""

    WAIT = "wait"
    RENDER = "render"
    DOWNLOAD = "download"
    REPLY = "reply"
    RETRY = "retry"
    FAIL = "fail"


@attrs.frozen
class Step:
    """The next step of a brief, and the facts to journal before taking it.

    Attributes:
        action: what to do.
        record: journal fields settled by this look (an earlier run's retry or
            render found to have arrived); record them first.
        resolution: ``RENDER``: the resolution to render at.
        stamp: ``RENDER``/``RETRY``: the project's ``updated_at`` now; journal it
            (``render_from``/``retry_from``) before sending, so a run that ends
            before the answer can tell later whether it arrived.
        error: ``FAIL``: why; ``RETRY``: the failed run's error.
        request_id: ``FAIL``: the request that showed it.
    """

    action: Action
    record: dict[str, Any] = attrs.field(factory=dict)
    resolution: str | None = None
    stamp: str | None = None
    error: str | None = None
    request_id: str | None = None


def next_step(item: BriefWork, project: Project, *, retries: int) -> Step:
    """What ``item`` does next now that its project is ``project`` (``retries``: the most).

    Updates ``item`` with what this look settles (see ``Step.record``).
    """
    record: dict[str, Any] = {}
    if not project.status.is_terminal:
        return Step(Action.WAIT)
    stamp = project.updated_at.isoformat()
    if item.retry_from is not None:
        # An earlier run sent a retry and ended before its answer was recorded:
        # the project changed since only if the retry arrived.
        if item.retry_from != stamp:
            item.retries += 1
            record["retries"] = item.retries
        item.retry_from = None
        record["retry_from"] = None
    status = project.status
    if status is ProjectStatus.IDLE and project.has_result:
        render = item.brief.render
        if render is not None and not item.rendered and item.render_refused is None:
            if item.render_from is None or item.render_from == stamp:
                item.render_from = None  # from here on, the render's own answer tells
                return Step(Action.RENDER, record, resolution=render, stamp=stamp)
            # An earlier run sent the render and ended before its answer was recorded.
            item.rendered = True
            record["rendered"] = True
        return Step(Action.DOWNLOAD, record)
    if status is ProjectStatus.IDLE:  # a decision point
        return Step(Action.REPLY, record)
    if status is ProjectStatus.FAILED:
        error = project.error_message or "the project failed"
        if item.retries >= retries:
            spent = f"{item.retries} retr{'y' if item.retries == 1 else 'ies'}"
            return Step(
                Action.FAIL,
                record,
                error=f"{error} (after {spent})",
                request_id=project.request_id,
            )
        return Step(Action.RETRY, record, stamp=stamp, error=error)
    return Step(
        Action.FAIL, record, error="the project was cancelled", request_id=project.request_id
    )


def create_params(
    item: BriefWork, mode: str | None, webhook_url: str | None
) -> tuple[CreateParams, dict[str, Any]]:
    """What the brief's create is sent with, and the journal fields to record first.

    An earlier send's parameters are sent again unchanged (the server compares
    them on the idempotent replay); else the brief's own (``mode``: the batch's
    default). They are journaled before the send (``{}``: they are already).
    """
    brief = item.brief
    params = item.create_params or CreateParams(
        brief.mode or mode,
        webhook_url,
        None if brief.metadata is None else dict(brief.metadata),
    )
    if item.params_journaled and item.create_params == params:
        return params, {}
    item.create_params, item.params_journaled = params, True
    return params, {"create_params": params.to_json()}


def forget_create_params(item: BriefWork) -> dict[str, Any]:
    """The create's parameters were refused as such (``REFUSED_PARAMS``: no project was
    made): forget them, so the next run sends the current ones; the fields to record."""
    item.create_params, item.params_journaled = None, False
    return {"create_params": None}


def render_refusal(resolution: str, message: str, request_id: str | None) -> str:
    """Why the brief's re-render was refused (a 403: the plan), as its outcome says it."""
    request = f" (request {request_id})" if request_id else ""
    return f"the re-render at {resolution} was refused: {message}{request}"


def downloaded(item: BriefWork, path: Path, size: int, sha256: str) -> dict[str, Any]:
    """The brief's video is at ``path``, verified: its outcome (set on ``item``) and the
    journal fields to record. Done; failed if its re-render was refused (the first
    result is kept, and the outcome says where)."""
    refused = item.render_refused
    error = None if refused is None else f"{refused}; the first result is kept at {path}"
    state: OutcomeState = "done" if error is None else "failed"
    item.outcome = item.to_outcome(state, path=str(path), sha256=sha256, size=size, error=error)
    return {
        "state": state,
        "status": ProjectStatus.IDLE.value,
        "path": str(path),
        "sha256": sha256,
        "size": size,
        "error": error,
        "request_id": None,
    }


def state_of(project: Project) -> str:
    """A project's status as a ``BriefUpdate`` state (a failed *run* is not a failed brief)."""
    return "run failed" if project.status is ProjectStatus.FAILED else project.raw_status


def file_digest(path: Path) -> tuple[int, str]:
    """The file's size and sha256 (hex), read in 1 MiB chunks (blocking: run it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
