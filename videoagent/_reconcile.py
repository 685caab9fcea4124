"""Requests with no idempotency key (message, render, cancel), in effect at most once.

The API gives ``send_message``, ``render`` and ``cancel`` no idempotency key.
After an ambiguous failure (a lost answer, a 5xx) the SDK looks before it
sends again: each ``find_*`` returns the outcome if the first request took
effect after all, else None (send again). A 409 to such a resend is looked
at too: the first request (arriving late) or another caller did it
meanwhile, and that outcome, not the conflict, is the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ._errors import ConflictError
from ._models import Message, MessageAccepted, Project, ProjectStatus
from ._reading import Poller, every_page
from ._retry import Attempts, Caller, Extras, RequestOptions

__all__ = ["Reconciler"]

T = TypeVar("T")

#: Pages of 100 messages the look-ups read at most (a conversation of 100,000 messages
#: would have cost a million credits): past them, the server is answering nonsense.
_MAX_PAGES = 1_000


class Reconciler:
    """Sends a request without an idempotency key at most once (see the module)."""

    def __init__(self, caller: Caller, options: RequestOptions, poller: Poller) -> None:
        self._caller = caller
        self._options = options
        self._poller = poller

    async def once(
        self,
        path: str,
        parse: Callable[[Any, str | None], T],
        find: Callable[[], Awaitable[T | None]],
        *,
        body: Mapping[str, Any] | None = None,
        attempts: Attempts | None = None,
        extras: Extras | None = None,
    ) -> T:
        """``POST path``, in effect at most once: ``find`` tells whether it already was."""
        checked = False

        async def reconcile() -> T | None:
            nonlocal checked
            checked = True
            return await find()

        try:
            return await self._caller.call(
                "POST",
                path,
                parse,
                options=self._options,
                body=body,
                resend=reconcile,
                attempts=attempts,
                extras=extras,
            )
        except ConflictError:
            if not checked:
                raise
            found = await find()
            if found is None:
                raise
            return found

    def _messages(self, project_id: str, after: str | None) -> AsyncIterator[Message]:
        return every_page(
            lambda cursor: self._poller.messages_page(project_id, after=cursor, limit=100),
            after,
            "msg",
            max_pages=_MAX_PAGES,
        )

    async def newest_message_id(self, project_id: str) -> str | None:
        """The id of the project's newest message (what "after" a new one means)."""
        newest: str | None = None
        async for message in self._messages(project_id, None):
            newest = message.id
        return newest

    async def find_sent(
        self, project_id: str, content: str, *, after: str | None
    ) -> MessageAccepted | None:
        """The accepted message if a user message ``content`` came ``after`` that id, else None."""
        sent: Message | None = None
        async for message in self._messages(project_id, after):
            if sent is None and message.role == "user" and message.content == content:
                sent = message
        if sent is None:
            return None
        project = await self._poller.get(project_id)
        return MessageAccepted(message=sent, project=project, request_id=project.request_id)

    async def find_render(self, project_id: str, before: Project) -> Project | None:
        """The project if a render began after ``before`` (idle with a result), else None.

        An idle project moves only by a user action, so rendering or failed now
        means a run began since; idle with a result again means one ended, if
        ``updated_at`` moved on. Anything else (cancelled, a message's run) and
        the server refuses a resend. Left open, as for any request without a
        key: another caller acting on the project between the read and the check
        (a settings change moves ``updated_at`` too).
        """
        now = await self._poller.get(project_id)
        if now.status is ProjectStatus.RENDERING or now.status is ProjectStatus.FAILED:
            return now
        if now.status is ProjectStatus.IDLE and now.has_result:
            return now if now.updated_at > before.updated_at else None
        return None

    async def if_status(self, project_id: str, status: ProjectStatus) -> Project | None:
        """The project if it is in ``status`` now, else None."""
        project = await self._poller.get(project_id)
        return project if project.status is status else None
