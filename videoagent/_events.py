"""What a ``ProjectWatcher`` reports: status changes, decision points, messages, warnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import attrs

from ._errors import VideoAgentError
from ._models import CreditsWarning, Message, Project, ProjectStatus

__all__ = [
    "AgentMessage",
    "Callback",
    "CreditsLow",
    "DecisionPoint",
    "OnUpdate",
    "StatusChanged",
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
#: ``wait(on_update=...)``: called with the project at each status change (may be async).
OnUpdate: TypeAlias = Callable[[Project], object]
