"""The simulator's records: accounts, keys, projects and messages (data only).

Times named ``*_at`` are unix seconds (for bodies); ``next_at`` and
``phase_started`` are monotonic real seconds of the :class:`~._clock.Clock`.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import attrs

from ._ratelimit import SlidingWindow

__all__ = [
    "ACTIVE",
    "STATUSES",
    "Account",
    "ApiKey",
    "IdempotencyEntry",
    "Message",
    "Project",
]

STATUSES = ("queued", "running", "generating", "rendering", "idle", "failed", "cancelled")
#: The statuses that hold one of the account's active-project slots.
ACTIVE = frozenset({"queued", "running", "generating", "rendering"})

Role = Literal["user", "agent"]


@attrs.define(eq=False)
class Message:
    """One message of a project's conversation."""

    id: str
    project_id: str
    role: Role
    content: str
    created_at: float


@attrs.define(eq=False)
class Project:
    """A project and its lifecycle state (advanced lazily by the engine)."""

    id: str
    account: Account
    brief: str
    mode: str
    webhook_url: str | None
    metadata: dict[str, str]
    created_at: float
    updated_at: float
    decision_points_left: int
    idempotency_key: str | None = None
    status: str = "queued"
    agent_message: str | None = None
    error_message: str | None = None
    has_result: bool = False
    resolution: str = "1080p"
    #: result version: grows each time a run produces a new video
    version: int = 0
    #: runs started so far (create, each message, each render)
    runs: int = 0
    #: renders started by POST /render
    renders: int = 0
    run_kind: Literal["plan", "render"] = "plan"
    durations: dict[str, float] = attrs.Factory(dict)
    phase_started: float = 0.0
    next_at: float | None = None
    #: the status at whose end the current run fails (None: it succeeds)
    fail_at: str | None = None
    #: fail the next run at its first phase (forced while not active)
    fail_next: bool = False
    decisions_taken: int = 0
    messages: list[Message] = attrs.Factory(list)
    message_index: dict[str, int] = attrs.Factory(dict)
    #: every status entered, with its unix time (for benchmarks' lower bounds)
    history: list[tuple[str, float]] = attrs.Factory(list)

    def add_message(self, message: Message) -> None:
        """Append ``message`` to the conversation."""
        self.message_index[message.id] = len(self.messages)
        self.messages.append(message)


@attrs.define(eq=False)
class ApiKey:
    """An API key of an account."""

    id: str
    name: str
    secret: str
    created_at: float
    revoked: bool = False


@attrs.define(eq=False)
class IdempotencyEntry:
    """A remembered create: its project, its parameters, when (monotonic)."""

    project: Project
    fingerprint: tuple[object, ...]
    at: float


@attrs.define(eq=False)
class Account:
    """A user: credits, plan, keys, projects, limits and counters."""

    id: str
    plan: str
    credits: int
    webhook_secret: str
    window: SlidingWindow | None
    keys: dict[str, ApiKey] = attrs.Factory(dict)
    #: all projects, oldest first
    projects: list[Project] = attrs.Factory(list)
    project_index: dict[str, int] = attrs.Factory(dict)
    active: set[Project] = attrs.Factory(set)
    idempotency: dict[str, IdempotencyEntry] = attrs.Factory(dict)
    idempotency_order: deque[str] = attrs.Factory(deque)
    day: int = -1
    projects_today: int = 0
    renders_today: int = 0
    # statistics
    requests: int = 0
    peak_active: int = 0
    rate_limited: int = 0
    project_limited: int = 0
    projects_created: int = 0
    renders_started: int = 0

    def active_keys(self) -> list[ApiKey]:
        """Keys not revoked, oldest first."""
        return [key for key in self.keys.values() if not key.revoked]

    def add_project(self, project: Project) -> None:
        """Append a new project."""
        self.project_index[project.id] = len(self.projects)
        self.projects.append(project)
