"""What a ``ProjectWatcher`` reports: status changes, decision points, messages, warnings."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from typing import TypeAlias

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import VideoAgentError
from ._models import CreditsWarning, Message, Project, ProjectStatus

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = [
    "AgentMessage",
    "Callback",
    "CreditsLow",
    "DecisionPoint",
    "StatusChanged",
    "Subscription",
    "WatchEvent",
    "WatchFailed",
]


@attrs.frozen
class StatusChanged:
    """A watched project moved to another status (``previous`` is None at first sight)."""

    project: Project
    previous: ProjectStatus | None

    @property
    def project_id(self) -> str:
        """The project's id."""
        return self.project.id


@attrs.frozen
class DecisionPoint:
    """A collaborative project stopped for feedback: ``project.agent_message`` asks.

    Answer with ``client.projects.send_message(project.id, ...)``; the watcher
    keeps watching the project after the reply.
    """

    project: Project

    @property
    def project_id(self) -> str:
        """The project's id."""
        return self.project.id

    @property
    def question(self) -> str | None:
        """What the agent asks."""
        return self.project.agent_message


@attrs.frozen
class AgentMessage:
    """A new message in a watched project's conversation (fetched with ``after=``)."""

    project_id: str
    message: Message


@attrs.frozen
class CreditsLow:
    """An answer carried ``credits_warning``: the balance is under its threshold."""

    warning: CreditsWarning
    project_id: None = None


@attrs.frozen
class WatchFailed:
    """Polling a project failed for good (gone, forbidden, or errors in a row); its watch ended."""

    project_id: str
    error: VideoAgentError


WatchEvent: TypeAlias = StatusChanged | DecisionPoint | AgentMessage | CreditsLow | WatchFailed
Callback: TypeAlias = Callable[[WatchEvent], object]


class Subscription:
    """One ``events()`` reader: a buffered stream, filtered by project ids (internal)."""

    def __init__(self, project_ids: frozenset[str]) -> None:
        self._project_ids = project_ids
        send: MemoryObjectSendStream[WatchEvent]
        receive: MemoryObjectReceiveStream[WatchEvent]
        send, receive = anyio.create_memory_object_stream[WatchEvent](math.inf)
        self._send = send
        self._receive = receive

    def offer(self, event: WatchEvent, project_id: str | None) -> None:
        if self._project_ids and project_id not in self._project_ids and project_id is not None:
            return
        with contextlib.suppress(anyio.BrokenResourceError):
            self._send.send_nowait(event)

    def close(self) -> None:
        self._send.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Unsubscribe."""
        self._send.close()
        self._receive.close()

    def __del__(self) -> None:
        self._send.close()
        self._receive.close()
