"""One brief's way from create to a verified file: the state machine each brief runs.

Create the project (through the client's active slots, with the brief's
deterministic idempotency key), or pick up the one the journal names; then
wait on the client's shared watcher and act on what the server says (the
decision, ``_steps.next_step``, is the Celery chain's too): a decision point
gets the ``reply`` policy's answer, a failed run is retried by message (up to
``retries``), a result is (re-rendered if asked, then) downloaded and
verified into ``out`` and the brief is done. Nothing but the
project id needs the journal to resume: a re-run looks at the project and
carries on from there. The one step the project's state cannot tell is a
re-render (the project ends idle with a result, as it began), so the journal
keeps the project's ``updated_at`` from before the render was sent
(``render_from``): a re-run that finds the project changed since knows the
render was made, and one that finds it unchanged knows it never arrived.
A retry is kept the same way (``retry_from``), so a stop or a crash as a
retry's answer comes back cannot spend more retries than ``retries``.

A create is journaled before it is sent (``create_params``: mode, webhook URL
and metadata), and a run that finds no project id after it sends exactly those
again: the server compares them with the first send's, and another mode or
metadata (the input or ``mode`` changed) or another webhook URL (a new listener
port) would answer 409 ``conflict`` for good. The webhook URL is the one thing
that follows the run rather than the brief (it names this run's receiver): a
project made or resumed with another one is pointed at this run's by
``update_settings``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import anyio
import attrs

from videoagent._errors import (
    APIError,
    ConflictError,
    PermissionDeniedError,
    VideoAgentError,
)
from videoagent._events import StatusChanged, WatchEvent
from videoagent._models import Project

from ._briefs import Brief
from ._credits import MESSAGE_COST, CreditLedger
from ._journal import JournalLike
from ._steps import (
    DEFAULT_REPLY,
    REFUSED_PARAMS,
    RETRY_MESSAGE,
    Action,
    create_params,
    downloaded,
    file_digest,
    forget_create_params,
    next_step,
    render_refusal,
    state_of,
)
from ._summary import BriefUpdate
from ._work import BriefWork, CreateParams

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent
    from videoagent._watcher import ProjectWatcher

__all__ = [
    "DEFAULT_REPLY",
    "RETRY_MESSAGE",
    "BriefPipeline",
    "BriefPolicy",
    "Mode",
    "ReplyPolicy",
]

logger = logging.getLogger("videoagent.batch")

#: Conflicting answers (409) in a row before a brief gives up.
_MAX_CONFLICTS = 3

ReplyPolicy = str | Callable[[Brief, Project], str | Awaitable[str]]
Mode = Literal["autonomous", "collaborative"]
Resolution = Literal["1080p", "4k"]


class _Failed(Exception):
    """A brief failed for good: the message and request id to report."""

    def __init__(self, message: str, request_id: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@attrs.frozen
class BriefPolicy:
    """How a batch runs each brief (``BatchRunner``'s options of the same names)."""

    mode: Mode | None = None
    retries: int = 2
    reply: ReplyPolicy = DEFAULT_REPLY
    webhook_url: str | None = None


class BriefPipeline:
    """Drives one brief at a time to its outcome (many run at once, one per brief).

    ``stopping`` tells a graceful stop (which leaves the project running) from
    any other cancellation. ``credits`` (a ``CreditLedger``) starts a new
    project only while the credits cover it and the started ones' needs.
    """

    def __init__(
        self,
        client: AsyncVideoAgent,
        policy: BriefPolicy,
        *,
        watcher: ProjectWatcher,
        journal: JournalLike,
        out: Path,
        on_update: Callable[[BriefUpdate], object] | None,
        stopping: Callable[[], bool],
        credits: CreditLedger | None = None,
    ) -> None:
        self._client = client
        self._credits = credits
        self._policy = policy
        self._watcher = watcher
        self._journal = journal
        self._out = out
        self._on_update = on_update
        self._stopping = stopping

    async def run(self, item: BriefWork, limiter: anyio.CapacityLimiter) -> None:
        """Take a turn from ``limiter`` and follow the brief to ``done`` or ``failed``."""
        try:
            async with limiter:
                await self._drive(item)
        except _Failed as failure:
            await self._fail(item, failure.message, failure.request_id)
        except VideoAgentError as exc:
            await self._fail(
                item, str(getattr(exc, "message", exc)), getattr(exc, "request_id", None)
            )
        except anyio.get_cancelled_exc_class():
            if self._stopping() and item.outcome is None:
                self._update(item, "stopped")
            raise
        finally:
            if self._credits is not None:
                self._credits.release(item)

    def _update(self, item: BriefWork, state: str, detail: str | None = None) -> None:
        if self._on_update is None:
            return
        update = BriefUpdate(item.brief.index, item.entry.file_name, state, item.project_id, detail)
        try:
            self._on_update(update)
        except Exception:  # a progress display's bug must not stop 300 videos
            logger.exception("on_update raised for %s (the batch goes on)", update.name)

    async def _fail(self, item: BriefWork, message: str, request_id: str | None) -> None:
        item.outcome = item.to_outcome("failed", error=message, request_id=request_id)
        await self._journal.record(
            item.brief.index, state="failed", error=message, request_id=request_id
        )
        self._update(item, "failed", message)

    async def _drive(self, item: BriefWork) -> None:
        """Create (or pick up) the brief's project and follow it to a verified file."""
        brief = item.brief
        first: Project | str
        if item.project_id is None:
            # A create sent before (its parameters journaled) may have made the project:
            # it is no new project, and goes ahead whatever the credits.
            credits = self._credits
            if credits is not None and not credits.start(item, new=item.create_params is None):
                self._update(item, "stopped", "credits ran low: left for the next run")
                return
            self._update(item, "creating")
            project, sent = await self._create(item)
            item.project_id = project.id
            await self._journal.record(
                brief.index, state="created", project_id=project.id, status=project.status.value
            )
            self._update(item, state_of(project))
            first = await self._point_webhook(project, sent.webhook_url)
        else:
            self._update(item, "resuming")
            first = item.project_id
            if self._policy.webhook_url is not None:  # (the watcher's first poll, made here)
                project = await self._client.projects.get(item.project_id)
                first = await self._point_webhook(project, project.webhook_url)
        project_id = item.project_id

        def on_event(event: WatchEvent) -> None:
            if isinstance(event, StatusChanged):
                self._update(item, state_of(event.project))

        self._watcher.watch(first, on_event=on_event)
        try:
            await self._follow(item, project_id)
        finally:
            self._watcher.unwatch(project_id)

    async def _create(self, item: BriefWork) -> tuple[Project, CreateParams]:
        """Create the brief's project (or replay an earlier send's); it and what was sent.

        The parameters are journaled before the send; an earlier send's are sent
        again unchanged. Parameters the API (or the client) refuses as such made
        no project: they are forgotten, so the next run sends the current ones.
        """
        brief = item.brief
        params, record = create_params(item, self._policy.mode, self._policy.webhook_url)
        if record:
            await self._journal.record(brief.index, **record)
        try:
            project = await self._client.projects.create(
                brief.text,
                mode=cast("Mode | None", params.mode),
                idempotency_key=item.entry.key,
                webhook_url=params.webhook_url,
                metadata=params.metadata,
            )
        except REFUSED_PARAMS:
            await self._journal.record(brief.index, **forget_create_params(item))
            raise
        return project, params

    async def _point_webhook(self, project: Project, current: str | None) -> Project:
        """The project, its webhook moved to this run's ``webhook_url`` if it names another.

        Best effort: a webhook only triggers an earlier poll, so a refused
        change leaves the brief to polling.
        """
        wanted = self._policy.webhook_url
        if wanted is None or wanted == current:
            return project
        try:
            return await self._client.projects.update_settings(project.id, webhook_url=wanted)
        except APIError:
            return project

    async def _follow(self, item: BriefWork, project_id: str) -> None:
        conflicts = 0
        while True:
            project = await self._watcher.wait(project_id)
            try:
                if await self._act(item, project):
                    return
                conflicts = 0
            except ConflictError:  # the project moved on meanwhile: look again
                conflicts += 1
                if conflicts >= _MAX_CONFLICTS:
                    raise
                await self._client.projects.get(project_id)

    async def _act(self, item: BriefWork, project: Project) -> bool:
        """Do what the project's state calls for (``next_step``); True once the brief is done."""
        projects = self._client.projects
        index = item.brief.index
        while True:
            step = next_step(item, project, retries=self._policy.retries)
            if step.record:
                await self._journal.record(index, **step.record)
            match step.action:
                case Action.WAIT:  # (a wait ends at idle, failed or cancelled)
                    return False
                case Action.RENDER:
                    resolution = cast("Resolution", step.resolution)
                    if await self._render(item, project, resolution, step.stamp):
                        return False
                    # Refused: the first result is downloaded and kept.
                case Action.DOWNLOAD:
                    with anyio.CancelScope(shield=True):  # a stop lets a begun download finish
                        await self._download(item, project)
                    return True
                case Action.REPLY:
                    text = await self._answer(item.brief, project)
                    self._update(item, "replying", project.agent_message)
                    await projects.send_message(project.id, text)
                    self._spent_message()
                    item.replies += 1
                    await self._journal.record(index, replies=item.replies, status="queued")
                    return False
                case Action.RETRY:
                    self._update(item, "retrying", step.error)
                    await self._journal.record(index, retry_from=step.stamp)
                    try:
                        await projects.send_message(project.id, RETRY_MESSAGE)
                    except ConflictError:  # refused: no retry was made
                        await self._journal.record(index, retry_from=None)
                        raise
                    self._spent_message()
                    item.retries += 1
                    await self._journal.record(
                        index, retries=item.retries, retry_from=None, status="queued"
                    )
                    return False
                case Action.FAIL:
                    raise _Failed(step.error or "the project failed", step.request_id)

    async def _render(
        self, item: BriefWork, project: Project, resolution: Resolution, stamp: str | None
    ) -> bool:
        """Send the brief's re-render: True if made; False if the account refused it.

        A refusal (403: a 4K render without the Pro plan) is journaled, so no
        later run sends it again while the plan is the same; the brief keeps
        its first result and fails with the reason.
        """
        index = item.brief.index
        self._update(item, "rendering", f"at {resolution}")
        await self._journal.record(index, render_from=stamp)
        try:
            await self._client.projects.render(project.id, resolution=resolution)
        except PermissionDeniedError as exc:
            item.render_refused = render_refusal(resolution, exc.message, exc.request_id)
            await self._journal.record(index, render_from=None, render_refused=item.render_refused)
            return False
        item.rendered = True
        await self._journal.record(index, rendered=True, status="rendering", render_refused=None)
        return True

    def _spent_message(self) -> None:
        if self._credits is not None:
            self._credits.spent(MESSAGE_COST)

    async def _answer(self, brief: Brief, project: Project) -> str:
        reply = self._policy.reply
        if isinstance(reply, str):
            return reply
        answer = reply(brief, project)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, str) or not answer:  # pyright: ignore[reportUnnecessaryIsInstance] - a user's callable may answer anything
            raise _Failed(f"the reply policy answered {answer!r}, not a text", None)
        return answer

    async def _download(self, item: BriefWork, project: Project) -> None:
        self._update(item, "downloading")
        destination = self._out / item.entry.file_name
        path = await self._client.projects.download(project.id, destination)
        size, digest = await anyio.to_thread.run_sync(file_digest, path)
        fields = downloaded(item, path, size, digest)
        await self._journal.record(item.brief.index, **fields)
        self._update(item, fields["state"], fields["error"] or str(path))
