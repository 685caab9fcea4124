"""``client.projects``: every project endpoint, slots, safe resends, verified downloads."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio

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
from ._converter import structure, structure_project
from ._errors import (
    ConflictError,
    DownloadError,
    DownloadVerificationError,
    InvalidRequestError,
    ResultExpiredError,
)
from ._limiter import Priority, Ticket
from ._models import (
    Message,
    MessageAccepted,
    MessagePage,
    Project,
    ProjectPage,
    ProjectStatus,
    Result,
)
from ._transport import Attempts
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from ._client import AsyncVideoAgent

__all__ = ["Projects", "check_id"]

T = TypeVar("T")
ItemT_co = TypeVar("ItemT_co", bound="_HasId", covariant=True)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class _Page(Protocol[ItemT_co]):
    @property
    def data(self) -> Sequence[ItemT_co]: ...

    @property
    def has_more(self) -> bool: ...


async def _every_page(
    fetch: Callable[[str | None], Awaitable[_Page[ItemT_co]]], after: str | None
) -> AsyncIterator[ItemT_co]:
    """Every item of a cursor-paginated list: pages fetched one by one, ``after`` the last id."""
    while True:
        page = await fetch(after)
        for item in page.data:
            yield item
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id


Mode = Literal["autonomous", "collaborative"]
Resolution = Literal["1080p", "4k"]
_MODES = ("autonomous", "collaborative")
_RESOLUTIONS = ("1080p", "4k")
_STATUSES = tuple(s.value for s in ProjectStatus if s is not ProjectStatus.UNKNOWN)


class Projects:
    """The project endpoints; reached as ``client.projects``."""

    def __init__(self, client: AsyncVideoAgent) -> None:
        self._client = client
        self._activation = Activation(
            client, lambda project_id: self._get(project_id, priority=Priority.POLL)
        )

    # -- parsing (every Project the client sees passes ``_seen``) -------------

    def _seen(self, project: Project) -> Project:
        self._client._transport.observe_project(project)
        return project

    def _parse_project(self, data: Any, request_id: str | None) -> Project:
        project = structure_project(data, request_id)
        self._client._transport.observe_project(project)
        return project

    def _parse_accepted(self, data: Any, request_id: str | None) -> MessageAccepted:
        accepted = structure(data, MessageAccepted, request_id=request_id)
        self._seen(accepted.project)
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
    ) -> Project:
        """Create a project (the agent starts at once); waits for an active slot first.

        Always sends an ``idempotency_key`` (a fresh one unless given) and reuses
        it on every retry, so a retry never makes a second project. Unset options
        are left out of the body (the API's defaults apply: autonomous mode).
        Arguments the API would refuse (an empty or oversized brief, an unknown
        mode, a plain-http ``webhook_url`` for an https API) raise
        ``InvalidRequestError`` before anything is sent.
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
        return await self._activation.run(
            lambda attempts: self._client._transport.call(
                "POST",
                "/projects",
                self._parse_project,
                options=self._client._options,
                body=body,
                attempts=attempts,
            ),
            lambda project: project,
            project_id=None,
        )

    def _webhook_url(self, url: object) -> str:
        return check_webhook_url(url, base_url=self._client._transport.base_url)

    # -- reading -----------------------------------------------------------------

    async def get(self, project_id: str) -> Project:
        """The project as it is now."""
        # (not via _get: one coroutine less on the polling hot path)
        return await self._client._transport.call(
            "GET",
            f"/projects/{check_id(project_id, 'prj', 'project_id')}",
            self._parse_project,
            options=self._client._options,
        )

    async def _get(
        self,
        project_id: str,
        *,
        priority: Priority = Priority.USER,
        ticket: Ticket | None = None,
    ) -> Project:
        """``get`` for the watcher: a budget priority, and a ticket it already holds."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}"
        return await self._client._transport.call(
            "GET",
            path,
            self._parse_project,
            options=self._client._options,
            priority=priority,
            ticket=ticket,
        )

    async def list(
        self, *, status: ProjectStatus | str | None = None, limit: int | None = None
    ) -> AsyncIterator[Project]:
        """Every project of the account, newest first, fetched page by page.

        ``limit`` is the page size (1-100, the API's default 20).
        """
        async for project in _every_page(
            lambda after: self._list_page(status=status, after=after, limit=limit), None
        ):
            yield project

    async def _list_page(
        self,
        *,
        status: ProjectStatus | str | None = None,
        after: str | None = None,
        limit: int | None = None,
        priority: Priority = Priority.USER,
    ) -> ProjectPage:
        params: dict[str, str] = {}
        if status is not None:
            value = status.value if isinstance(status, ProjectStatus) else status
            params["status"] = check_choice(value, "status", _STATUSES)
        if after is not None:
            check_id(after, "prj", "after")
            params["after"] = after
        if limit is not None:
            params["limit"] = str(check_limit(limit))

        def parse(data: Any, request_id: str | None) -> ProjectPage:
            page = structure(data, ProjectPage, request_id=request_id)
            for project in page.data:
                self._seen(project)
            return page

        return await self._client._transport.call(
            "GET",
            "/projects",
            parse,
            options=self._client._options,
            params=params,
            priority=priority,
        )

    async def messages(
        self, project_id: str, *, after: str | None = None, limit: int | None = None
    ) -> AsyncIterator[Message]:
        """The project's messages oldest first, only those newer than ``after``.

        Keep the last id you saw and pass it back next time (cursor polling).
        """
        async for message in _every_page(
            lambda cursor: self._messages_page(project_id, after=cursor, limit=limit), after
        ):
            yield message

    async def _messages_page(
        self,
        project_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        priority: Priority = Priority.USER,
        ticket: Ticket | None = None,
    ) -> MessagePage:
        """One page of messages (for the watcher: a priority and a held ticket)."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/messages"
        params: dict[str, str] = {}
        if after is not None:
            check_id(after, "msg", "after")
            params["after"] = after
        if limit is not None:
            params["limit"] = str(check_limit(limit))
        return await self._client._transport.call(
            "GET",
            path,
            lambda data, request_id: structure(data, MessagePage, request_id=request_id),
            options=self._client._options,
            params=params,
            priority=priority,
            ticket=ticket,
        )

    async def result(self, project_id: str) -> Result:
        """The rendered video's pre-signed URL (24 hours), size and sha256."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/result"
        return await self._client._transport.call(
            "GET",
            path,
            lambda data, request_id: structure(data, Result, request_id=request_id),
            options=self._client._options,
        )

    # -- actions ---------------------------------------------------------------

    async def send_message(self, project_id: str, content: str) -> MessageAccepted:
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

        async def send(attempts: Attempts) -> MessageAccepted:
            # Why the message list and not the project: an id marks "before" exactly,
            # where timestamps would have to be compared across records, and content
            # alone cannot tell this message from the same text sent earlier.
            newest = await self._newest_message_id(project_id)
            return await self._once(
                path,
                self._parse_accepted,
                lambda: self._find_sent(project_id, content, after=newest),
                body={"content": content},
                attempts=attempts,
            )

        return await self._activation.run(
            send, lambda accepted: accepted.project, project_id=project_id
        )

    async def _newest_message_id(self, project_id: str) -> str | None:
        newest: str | None = None
        async for message in self.messages(project_id, limit=100):
            newest = message.id
        return newest

    async def _find_sent(
        self, project_id: str, content: str, *, after: str | None
    ) -> MessageAccepted | None:
        """The accepted message if a user message ``content`` came ``after`` that id, else None."""
        sent: Message | None = None
        async for message in self.messages(project_id, after=after, limit=100):
            if sent is None and message.role == "user" and message.content == content:
                sent = message
        if sent is None:
            return None
        project = await self._get(project_id)
        return MessageAccepted(message=sent, project=project, request_id=project.request_id)

    async def update_settings(
        self,
        project_id: str,
        *,
        mode: Mode | NotGiven = NOT_GIVEN,
        webhook_url: str | NotGiven | None = NOT_GIVEN,
    ) -> Project:
        """Change the mode (from the next decision point) or the webhook (``None`` removes it)."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/settings"
        body: dict[str, Any] = {}
        if not isinstance(mode, NotGiven):
            body["mode"] = check_choice(mode, "mode", _MODES)
        if not isinstance(webhook_url, NotGiven):
            body["webhook_url"] = None if webhook_url is None else self._webhook_url(webhook_url)
        if not body:
            raise InvalidRequestError(
                "update_settings needs mode= or webhook_url= (nothing was sent)"
            )
        return await self._client._transport.call(
            "PATCH", path, self._parse_project, options=self._client._options, body=body
        )

    async def cancel(self, project_id: str) -> Project:
        """Stop the agent: the project becomes ``cancelled`` (its slot is freed).

        After a lost answer the project is read before sending again: cancelled
        is final, so it means the cancel took effect (or an earlier one did) and
        that project is returned. A project that failed meanwhile cannot be
        cancelled: the resend's 409 raises ``ConflictError``, as it would have.
        """
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/cancel"
        return await self._once(
            path, self._parse_project, lambda: self._if_status(project_id, ProjectStatus.CANCELLED)
        )

    async def render(self, project_id: str, *, resolution: Resolution | None = None) -> Project:
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

        async def send(attempts: Attempts) -> Project:
            before = await self._get(project_id)
            if before.status is not ProjectStatus.IDLE or not before.has_result:
                raise ConflictError(
                    f"project {project_id} is {before.raw_status}"
                    f"{'' if before.has_result else ' without a result'}; a render needs "
                    "an idle project with a finished plan (nothing was sent)",
                    code="conflict",
                    request_id=before.request_id,
                )
            return await self._once(
                path,
                self._parse_project,
                lambda: self._find_render(project_id, before),
                body=body,
                attempts=attempts,
            )

        return await self._activation.run(send, lambda project: project, project_id=project_id)

    async def _find_render(self, project_id: str, before: Project) -> Project | None:
        """The project if a render began after ``before`` (idle with a result), else None.

        An idle project moves only by a user action, so rendering or failed now
        means a run began since; idle with a result again means one ended, if
        ``updated_at`` moved on. Anything else (cancelled, a message's run) and
        the server refuses a resend. Left open, as for any request without a
        key: another caller acting on the project between the read and the check
        (a settings change moves ``updated_at`` too).
        """
        now = await self._get(project_id)
        if now.status is ProjectStatus.RENDERING or now.status is ProjectStatus.FAILED:
            return now
        if now.status is ProjectStatus.IDLE and now.has_result:
            return now if now.updated_at > before.updated_at else None
        return None

    async def _if_status(self, project_id: str, status: ProjectStatus) -> Project | None:
        project = await self._get(project_id)
        return project if project.status is status else None

    async def _once(
        self,
        path: str,
        parse: Callable[[Any, str | None], T],
        find: Callable[[], Awaitable[T | None]],
        *,
        body: Mapping[str, Any] | None = None,
        attempts: Attempts | None = None,
    ) -> T:
        """``POST path``, a request with no idempotency key, in effect at most once.

        After an ambiguous failure the transport calls ``reconcile``: ``find``
        returns the outcome if the request took effect, else None (send again).
        A 409 to such a resend is looked at with ``find`` too: the first request
        (arriving late) or another caller did it meanwhile, and that outcome,
        not the conflict, is the answer.
        """
        checked = False

        async def reconcile() -> T | None:
            nonlocal checked
            checked = True
            return await find()

        try:
            return await self._client._transport.call(
                "POST",
                path,
                parse,
                options=self._client._options,
                body=body,
                idempotent=False,
                reconcile=reconcile,
                attempts=attempts,
            )
        except ConflictError:
            if not checked:
                raise
            found = await find()
            if found is None:
                raise
            return found

    async def wait(self, project_id: str, *, timeout: float | None = None) -> Project:  # noqa: ASYNC109
        """Wait until the project is idle, failed or cancelled; polls via the shared watcher.

        ``timeout`` is in contract seconds (scaled like every wait); past it,
        ``WaitTimeoutError``.
        """
        check_id(project_id, "prj", "project_id")
        watcher = self._client._require_watcher()
        project: Project = await watcher.wait(project_id, timeout=timeout)
        return project

    # -- download ------------------------------------------------------------------

    async def download(self, project_id: str, path: str | os.PathLike[str]) -> Path:
        """Fetch the result video to ``path``, verified by size and sha256; the path.

        Streams into a temporary file beside ``path`` and renames it into place
        only once verified: ``path`` never holds a partial or wrong video. An
        expired URL (410) gets one fresh URL from ``/result``.
        """
        destination = Path(path)
        await anyio.Path(destination.parent).mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
        transport = self._client._transport
        options = self._client._options
        result = await self.result(project_id)
        try:
            for fresh in (False, True):
                try:
                    size, digest = await transport.download(
                        result.video_url, partial, options=options
                    )
                    break
                except DownloadError as exc:
                    if exc.status not in (403, 410):
                        raise
                    if fresh:
                        raise ResultExpiredError(
                            f"the video URL of {project_id} answered HTTP {exc.status} "
                            "even after a fresh /result",
                            status=exc.status,
                            request_id=result.request_id,
                        ) from exc
                    result = await self.result(project_id)
            if size != result.size_bytes or digest != result.sha256:
                raise DownloadVerificationError(
                    f"the download of {project_id} does not match its result: "
                    f"{size} bytes with sha256 {digest}, expected {result.size_bytes} bytes "
                    f"with sha256 {result.sha256}; nothing was written to {destination}",
                    expected_sha256=result.sha256,
                    actual_sha256=digest,
                    expected_size=result.size_bytes,
                    actual_size=size,
                )
            await anyio.Path(partial).replace(destination)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.Path(partial).unlink(missing_ok=True)
        return destination
