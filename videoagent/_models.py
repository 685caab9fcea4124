"""The API's objects as frozen attrs classes.

Every model parsed from an answer keeps the JSON object it came from in ``raw``
(so a field a newer server adds is still reachable) and the answer's
``X-Request-Id`` in ``request_id``. Neither takes part in equality.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "Account",
    "ApiKey",
    "ApiKeyCreated",
    "CreditsWarning",
    "Message",
    "MessageAccepted",
    "MessagePage",
    "Project",
    "ProjectPage",
    "ProjectStatus",
    "Result",
    "redact_key",
]

_EMPTY: Mapping[str, Any] = {}


def redact_key(key: str) -> str:
    """``es_live_…wxyz``: at most the prefix and the last four characters of a key."""
    prefix = "es_live_" if key.startswith("es_live_") else ""
    tail = key[-4:] if len(key) - len(prefix) >= 12 else ""
    return f"{prefix}…{tail}"


class ProjectStatus(str, enum.Enum):
    """A project's status; ``UNKNOWN`` stands for a value a newer server may send.

    An unknown status is treated as active (the project is polled at a safe
    interval); the string the server sent stays on ``Project.raw_status``.
    """

    QUEUED = "queued"
    RUNNING = "running"
    GENERATING = "generating"
    RENDERING = "rendering"
    IDLE = "idle"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_active(self) -> bool:
        """Counts against the 5 active projects: work is going on (or may be)."""
        return self in _ACTIVE

    @property
    def is_terminal(self) -> bool:
        """Polling can stop: the project waits for the user (idle, failed) or is over."""
        return self in _TERMINAL

    @classmethod
    def parse(cls, value: str) -> ProjectStatus:
        """The member for ``value``; ``UNKNOWN`` for a value this SDK does not know."""
        return _BY_VALUE.get(value, cls.UNKNOWN)  # parsed on every poll: one dict lookup

    def __str__(self) -> str:
        return self.value


_BY_VALUE: dict[str, ProjectStatus] = {member.value: member for member in ProjectStatus}
_ACTIVE = frozenset(
    {
        ProjectStatus.QUEUED,
        ProjectStatus.RUNNING,
        ProjectStatus.GENERATING,
        ProjectStatus.RENDERING,
        ProjectStatus.UNKNOWN,
    }
)
_TERMINAL = frozenset({ProjectStatus.IDLE, ProjectStatus.FAILED, ProjectStatus.CANCELLED})


@attrs.frozen
class CreditsWarning:
    """Sent while the balance is under ``threshold`` (100) credits: time to top up."""

    balance: int
    threshold: int


def _raw() -> Any:
    return attrs.field(default=_EMPTY, eq=False, repr=False)


def _request_id() -> Any:
    return attrs.field(default=None, eq=False)


@attrs.frozen
class Project:
    """A video project: its brief, mode and where the agent is with it."""

    id: str
    status: ProjectStatus
    mode: str
    brief: str = attrs.field(repr=False)
    created_at: datetime
    updated_at: datetime
    agent_message: str | None = None
    error_message: str | None = None
    progress: float | None = None
    webhook_url: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    has_result: bool = False
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()
    raw: Mapping[str, Any] = _raw()

    @property
    def at_decision_point(self) -> bool:
        """A collaborative project stopped for feedback: idle without a result, the
        agent's question in ``agent_message``. Answer with ``send_message``."""
        return (
            self.status is ProjectStatus.IDLE
            and not self.has_result
            and self.agent_message is not None
        )

    @property
    def raw_status(self) -> str:
        """The status exactly as the server sent it (differs from ``status`` if UNKNOWN)."""
        value = self.raw.get("status", self.status.value)
        return value if isinstance(value, str) else self.status.value


@attrs.frozen
class Message:
    """One message of a project's conversation, from the user or the agent."""

    id: str
    project_id: str
    role: str
    content: str
    created_at: datetime
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class MessageAccepted:
    """``send_message``'s answer: the message as stored and the project it moved on."""

    message: Message
    project: Project
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Result:
    """A rendered video: a pre-signed URL (24 hours) and what its bytes must hash to."""

    project_id: str
    video_url: str = attrs.field(repr=False)
    expires_at: datetime
    resolution: str
    size_bytes: int
    sha256: str
    duration_seconds: float | None = None
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Account:
    """Credits, plan and today's usage of the account the key belongs to."""

    credits: int
    plan: str
    active_projects: int
    renders_today: int
    projects_today: int
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class ApiKey:
    """An API key of the account; its secret is never shown again after creation."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class ApiKeyCreated:
    """A new key with its secret, shown this once (the repr redacts it)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    key: str = attrs.field(repr=redact_key)
    request_id: str | None = _request_id()
    raw: Mapping[str, Any] = attrs.field(default=_EMPTY, eq=False, repr=False)


@attrs.frozen
class ProjectPage:
    """One page of ``GET /projects`` (newest first)."""

    data: tuple[Project, ...]
    has_more: bool
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()


@attrs.frozen
class MessagePage:
    """One page of ``GET /projects/{id}/messages`` (oldest first)."""

    data: tuple[Message, ...]
    has_more: bool
    credits_warning: CreditsWarning | None = attrs.field(default=None, eq=False)
    request_id: str | None = _request_id()
