"""``client.projects``: every project endpoint, slots, safe resends, verified downloads.

``Projects`` is what users call; ``Poller`` is the same reads with a budget
priority (or a ticket already held), for the watcher. Every ``Project`` an
answer carries passes the client's ``ProjectLedger`` (slots, watchers).
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar, overload

import attrs

from . import _cadence
from ._activation import Activation
from ._arguments import (
    check_choice,
    check_id,
    check_idempotency_key,
    check_limit,
    check_metadata,
    check_text,
    check_webhook_url,
)
from ._config import PollPolicy
from ._converter import structure
from ._download import Downloader
from ._errors import (
    ConflictError,
    InvalidRequestError,
    ProjectFailedError,
    WaitTimeoutError,
)
from ._events import OnUpdate
from ._ledger import ProjectLedger
from ._models import (
    Message,
    MessageAccepted,
    Project,
    ProjectPage,
    ProjectStatus,
    Result,
)
from ._raw import raw_method
from ._reading import Poller, every_page
from ._reconcile import Reconciler
from ._retry import Attempts, Caller, Extras, RequestOptions
from ._types import NOT_GIVEN, NotGiven

__all__ = ["PollStep", "Projects", "ProjectsWithRawResponse", "WaitFor"]

logger = logging.getLogger("videoagent")

T = TypeVar("T")

Mode = Literal["autonomous", "collaborative"]
Resolution = Literal["1080p", "4k"]
_MODES = ("autonomous", "collaborative")
_RESOLUTIONS = ("1080p", "4k")
_STATUSES = tuple(s.value for s in ProjectStatus if s is not ProjectStatus.UNKNOWN)

#: How ``wait`` waits: the client's shared watcher's ``wait``.
WaitFor = Callable[[str, "float | None", "OnUpdate | None"], Awaitable[Project]]


@attrs.frozen
class PollStep:
    """One poll of a project, for a job queue: the project now, and when to look again.

    Attributes:
        project: the project as this poll found it.
        delay: contract seconds until the next poll its status calls for (5 s
            queued, 30 s running, 30-60 s generating, 30 s rendering); ``None``
            once it is idle, failed or cancelled (nothing more to poll).
        countdown: ``delay`` in real seconds (multiplied by the client's
            ``time_scale``): what to give the queue (Celery's ``countdown``,
            RQ's ``enqueue_in``); ``None`` when ``delay`` is.
        since: when its current status was first seen (Unix seconds, as
            ``time.time()``): pass it back as ``poll(..., since=step.since)``
            so that a long generation is polled at the fast end of its range.
    """

    project: Project
    delay: float | None
    countdown: float | None
    since: float

    @property
    def done(self) -> bool:
        """Whether the project is idle, failed or cancelled (no next poll)."""
        return self.delay is None


class Projects:
    """The project endpoints; reached as ``client.projects``.

    Every method that sends one request takes ``extra_headers``,
    ``extra_query`` and ``extra_body``: added to that request under ours (the
    auth headers, and the fields and parameters the call sets, win).
    """

    def __init__(
        self,
        *,
        caller: Caller,
        options: RequestOptions,
        ledger: ProjectLedger,
        poller: Poller,
        activation: Activation,
        downloader: Downloader,
        wait_for: WaitFor,
    ) -> None:
        self._caller = caller
        self._options = options
        self._ledger = ledger
        self._poller = poller
        self._activation = activation
        self._downloader = downloader
        self._wait_for = wait_for
        self._resend = Reconciler(caller, options, poller)

    @functools.cached_property
    def with_raw_response(self) -> ProjectsWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``).

        Example::

            raw = await client.projects.with_raw_response.get(pid)
            print(raw.headers["X-RateLimit-Remaining"], raw.parse().status)
        """
        return ProjectsWithRawResponse(self)

    def _parse_accepted(self, data: Any, request_id: str | None) -> MessageAccepted:
        accepted = structure(data, MessageAccepted, request_id=request_id)
        self._ledger.accept(accepted.project)
        return accepted

    # -- create ----------------------------------------------------------------

    async def create(
        self,
        brief: str,
        *,
        mode: Mode | None = None,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Project:
        """Create a project (the agent starts at once); waits for an active slot first.

        Always sends an ``idempotency_key`` (a fresh one unless given) and reuses
        it on every retry, so a retry never makes a second project. Unset options
        are left out of the body (the API's defaults apply: autonomous mode).
        Arguments the API would refuse (an empty or oversized brief, an unknown
        mode, a plain-http ``webhook_url`` for an https API, text UTF-8 cannot
        encode) raise ``InvalidRequestError`` before anything is sent.
        """
        body: dict[str, Any] = {
            "brief": check_text(brief, "brief"),
            "idempotency_key": f"va_{uuid.uuid4().hex}"
            if idempotency_key is None
            else check_idempotency_key(idempotency_key),
        }
        if mode is not None:
            body["mode"] = check_choice(mode, "mode", _MODES)
        if webhook_url is not None:
            body["webhook_url"] = self._webhook_url(webhook_url)
        if metadata is not None:
            body["metadata"] = check_metadata(metadata)
        extras = Extras.of(extra_headers, extra_query, extra_body)
        return await self._activation.run(
            lambda attempts: self._caller.call(
                "POST",
                "/projects",
                self._poller.parse_project,
                options=self._options,
                body=body,
                attempts=attempts,
                extras=extras,
            ),
            lambda project: project,
            project_id=None,
        )

    def _webhook_url(self, url: object) -> str:
        return check_webhook_url(url, base_url=self._caller.transport.base_url)

    # -- reading -----------------------------------------------------------------

    async def get(
        self,
        project_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> Project:
        """The project as it is now."""
        # (not via the poller, and extras made only when given: the polling hot path)
        return await self._caller.call(
            "GET",
            f"/projects/{check_id(project_id, 'prj', 'project_id')}",
            self._poller.parse_project,
            options=self._options,
            extras=None
            if extra_headers is None and extra_query is None
            else Extras.of(extra_headers, extra_query, None),
        )

    async def poll(
        self,
        project_id: str,
        *,
        since: float | None = None,
        previous: ProjectStatus | str | None = None,
        policy: PollPolicy | None = None,
    ) -> PollStep:
        """One GET, and the contract's delay to the next: the step a job queue repeats.

        For Celery, RQ or Dramatiq: a task polls once, then schedules itself
        ``step.countdown`` seconds later (or stops when ``step.done``): no worker
        sleeps through a project. Example (RQ)::

            step = await client.projects.poll(pid, since=since, previous=status)
            if not step.done:
                queue.enqueue_in(timedelta(seconds=step.countdown), poll_task, pid,
                                 step.since, step.project.status.value)

        ``previous`` and ``since`` are what the last step saw (its
        ``project.status`` and ``since``): while the status stays the same, the
        generating range moves to its fast end as the generation grows long,
        as ``ProjectWatcher`` does. ``policy``: the intervals (the contract's).
        """
        project = await self.get(project_id)
        now = time.time()
        same = previous is not None and ProjectStatus.parse(str(previous)) is project.status
        since = since if same and since is not None and since <= now else now
        delay = _cadence.interval(
            policy or PollPolicy(),
            project.status,
            errors=0,
            since=since,
            now=now,
            time_scale=self._options.time_scale,
        )
        if delay == _cadence.INF:
            return PollStep(project, None, None, since)
        return PollStep(project, delay, delay * self._options.time_scale, since)

    async def list(
        self,
        *,
        status: ProjectStatus | str | None = None,
        limit: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Project]:
        """Every project of the account, newest first, fetched page by page.

        ``limit`` is the page size (1-100, the API's default 20).
        """
        params: dict[str, str] = {}
        if status is not None:
            value = status.value if isinstance(status, ProjectStatus) else status
            params["status"] = check_choice(value, "status", _STATUSES)
        if limit is not None:
            params["limit"] = str(check_limit(limit))
        extras = Extras.of(extra_headers, extra_query, None)

        def parse(data: Any, request_id: str | None) -> ProjectPage:
            page = structure(data, ProjectPage, request_id=request_id)
            for project in page.data:
                self._ledger.accept(project)
            return page

        async def fetch(after: str | None) -> ProjectPage:
            return await self._caller.call(
                "GET",
                "/projects",
                parse,
                options=self._options,
                params=params if after is None else {**params, "after": after},
                extras=extras,
            )

        async for project in every_page(fetch, None, "prj"):
            yield project

    async def messages(
        self,
        project_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Message]:
        """The project's messages oldest first, only those newer than ``after``.

        Keep the last id you saw and pass it back next time (cursor polling).
        """
        check_id(project_id, "prj", "project_id")
        if after is not None:
            check_id(after, "msg", "after")
        if limit is not None:
            check_limit(limit)
        extras = Extras.of(extra_headers, extra_query, None)
        async for message in every_page(
            lambda cursor: self._poller.messages_page(
                project_id, after=cursor, limit=limit, extras=extras
            ),
            after,
            "msg",
        ):
            yield message

    async def result(
        self,
        project_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> Result:
        """The rendered video's pre-signed URL (24 hours), size and sha256."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/result"
        return await self._caller.call(
            "GET",
            path,
            lambda data, request_id: structure(data, Result, request_id=request_id),
            options=self._options,
            extras=Extras.of(extra_headers, extra_query, None),
        )

    # -- actions ---------------------------------------------------------------

    async def send_message(
        self,
        project_id: str,
        content: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> MessageAccepted:
        """Send feedback at a decision point, or retry a failed project.

        The project becomes active again, so this waits for an active slot. A
        message carries no idempotency key, so the id of the newest message is
        read first (one extra GET for the usual conversation of under 100
        messages); after a lost answer, a user message with this ``content``
        newer than that id means it arrived: it is never sent (or charged)
        twice, and the same text sent again on purpose is still sent.
        """
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/messages"
        check_text(content, "content")
        extras = Extras.of(extra_headers, extra_query, extra_body)

        async def send(attempts: Attempts) -> MessageAccepted:
            # Why the message list and not the project: an id marks "before" exactly,
            # where timestamps would have to be compared across records, and content
            # alone cannot tell this message from the same text sent earlier.
            newest = await self._resend.newest_message_id(project_id)
            return await self._resend.once(
                path,
                self._parse_accepted,
                lambda: self._resend.find_sent(project_id, content, after=newest),
                body={"content": content},
                attempts=attempts,
                extras=extras,
            )

        return await self._activation.run(
            send, lambda accepted: accepted.project, project_id=project_id
        )

    async def update_settings(
        self,
        project_id: str,
        *,
        mode: Mode | NotGiven = NOT_GIVEN,
        webhook_url: str | NotGiven | None = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Project:
        """Change the mode (from the next decision point) or the webhook (``None`` removes it)."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/settings"
        body: dict[str, Any] = {}
        if not isinstance(mode, NotGiven):
            body["mode"] = check_choice(mode, "mode", _MODES)
        if not isinstance(webhook_url, NotGiven):
            body["webhook_url"] = None if webhook_url is None else self._webhook_url(webhook_url)
        if not body and not extra_body:
            raise InvalidRequestError(
                "update_settings needs mode= or webhook_url= (nothing was sent)"
            )
        return await self._caller.call(
            "PATCH",
            path,
            self._poller.parse_project,
            options=self._options,
            body=body,
            extras=Extras.of(extra_headers, extra_query, extra_body),
        )

    async def cancel(
        self,
        project_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Project:
        """Stop the agent: the project becomes ``cancelled`` (its slot is freed).

        After a lost answer the project is read before sending again: cancelled
        is final, so it means the cancel took effect (or an earlier one did) and
        that project is returned. A project that failed meanwhile cannot be
        cancelled: the resend's 409 raises ``ConflictError``, as it would have.
        """
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/cancel"
        return await self._resend.once(
            path,
            self._poller.parse_project,
            lambda: self._resend.if_status(project_id, ProjectStatus.CANCELLED),
            extras=Extras.of(extra_headers, extra_query, extra_body),
        )

    async def render(
        self,
        project_id: str,
        *,
        resolution: Resolution | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Project:
        """Render (or re-render) an idle project; it is active again while rendering.

        A project that is not idle with a result raises ``ConflictError`` before
        anything is sent. The answer is the project ``rendering``; if the answer
        was lost and the render already ended by the time the SDK looked, it is
        the project ``idle`` with the new result, or ``failed``.

        A render carries no idempotency key, so the project is read first (one
        extra GET per render): after a lost answer, only a newer ``updated_at``
        than that read tells a render that already finished (idle with a result
        again) from one that never arrived. Nothing cheaper is sound: the
        client's last sight of the project may be stale (or another process's),
        a render adds no user message, and the contract promises no agent
        message, new result bytes or clock to compare with.
        """
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/render"
        body = (
            {"resolution": check_choice(resolution, "resolution", _RESOLUTIONS)}
            if resolution is not None
            else None
        )
        extras = Extras.of(extra_headers, extra_query, extra_body)

        async def send(attempts: Attempts) -> Project:
            before = await self._poller.get(project_id)
            if before.status is not ProjectStatus.IDLE or not before.has_result:
                raise ConflictError(
                    f"project {project_id} is {before.raw_status}"
                    f"{'' if before.has_result else ' without a result'}; a render needs "
                    "an idle project with a finished plan (nothing was sent)",
                    code="conflict",
                    request_id=before.request_id,
                )
            return await self._resend.once(
                path,
                self._poller.parse_project,
                lambda: self._resend.find_render(project_id, before),
                body=body,
                attempts=attempts,
                extras=extras,
            )

        return await self._activation.run(send, lambda project: project, project_id=project_id)

    # -- waiting -------------------------------------------------------------------

    async def wait(
        self,
        project_id: str,
        *,
        timeout: float | None = None,
        on_update: OnUpdate | None = None,
        raise_on_failure: bool = False,
        cancel_on_timeout: bool = False,
    ) -> Project:
        """Wait until the project is idle, failed or cancelled; polls via the shared watcher.

        Args:
            timeout: contract seconds (scaled like every wait); past it,
                ``WaitTimeoutError``.
            on_update: called with the project at each status change (a plain
                or an async function; an exception in it is logged and the
                wait goes on).
            raise_on_failure: raise ``ProjectFailedError`` (with the project
                and its ``error_message``) when it ends ``failed`` or
                ``cancelled``, instead of returning it.
            cancel_on_timeout: when ``timeout`` passes, cancel the project (it
                stops holding an active slot and spending credits), then raise
                ``WaitTimeoutError``.
        """
        check_id(project_id, "prj", "project_id")
        try:
            project = await self._wait_for(project_id, timeout, on_update)
        except WaitTimeoutError:
            if cancel_on_timeout:
                await self._cancel_after_timeout(project_id)
            raise
        if raise_on_failure and project.status in (ProjectStatus.FAILED, ProjectStatus.CANCELLED):
            reason = f": {project.error_message}" if project.error_message else ""
            raise ProjectFailedError(
                f"project {project.id} ended {project.status.value}{reason}", project=project
            )
        return project

    async def _cancel_after_timeout(self, project_id: str) -> None:
        try:
            await self.cancel(project_id)
        except ConflictError:  # it ended just now: nothing left to cancel
            logger.info("%s ended as its wait timed out; no cancel needed", project_id)

    # -- download ------------------------------------------------------------------

    @overload
    async def download(self, project_id: str, path: str | os.PathLike[str]) -> Path: ...
    @overload
    async def download(self, project_id: str, path: BinaryIO) -> BinaryIO: ...

    async def download(
        self, project_id: str, path: str | os.PathLike[str] | BinaryIO
    ) -> Path | BinaryIO:
        """Fetch the result video, verified by size and sha256.

        ``path`` is a file path (an existing directory, or a string ending in
        ``/``: ``<dir>/<project id>.mp4``), or a writable binary file object. A
        path is written through a temporary file renamed into place once
        verified: it never holds a partial or wrong video. A malformed id, or a
        project without a result, raises before any folder is made. Returns the
        path written (or the file object). An expired URL (410) gets one fresh
        URL from ``/result``. See ``_download`` for the size cap, the overall
        deadline and the redirects followed.
        """
        check_id(project_id, "prj", "project_id")
        result = await self.result(project_id)
        return await self._downloader.download(
            project_id,
            path,
            result=result,
            fresh_result=lambda: self.result(project_id),
            options=self._options,
        )


class ProjectsWithRawResponse:
    """``client.projects.with_raw_response``: each call returns a ``RawResponse``.

    ``list``, ``messages`` (many answers), ``wait`` and ``download`` (not one
    answer of the API) have no raw form.
    """

    def __init__(self, projects: Projects) -> None:
        self.create = raw_method(projects.create)
        self.get = raw_method(projects.get)
        self.result = raw_method(projects.result)
        self.send_message = raw_method(projects.send_message)
        self.update_settings = raw_method(projects.update_settings)
        self.cancel = raw_method(projects.cancel)
        self.render = raw_method(projects.render)
