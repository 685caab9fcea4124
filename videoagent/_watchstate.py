"""What a ``ProjectWatcher`` keeps per project and per client (see its module).

An ``Entry`` per watched project, a ``Lane`` per client (i.e. per request
budget), and a ``Waiter`` per ``wait()`` call. Plain state: the watcher and
its ``PollScheduler`` change it.
"""

from __future__ import annotations

from collections import deque

import anyio
import attrs

from ._cadence import INF
from ._errors import VideoAgentError
from ._events import Callback
from ._models import Project, ProjectStatus
from ._wiring import Wiring

__all__ = ["Entry", "Lane", "Waiter"]


@attrs.define(eq=False)
class Entry:
    """One watched project. Kept small: a watcher may hold tens of thousands."""

    project_id: str
    lane: Lane
    status: ProjectStatus | None = None  # as last seen
    # The last answer, kept only once terminal (for wait): an active project's
    # answer (its raw JSON included) is dropped, which keeps an entry small.
    project: Project | None = None
    # The newest answer another call brought while this entry's own poll was in
    # flight (the poll's answer and it are compared when the poll returns).
    latest: Project | None = None
    since: float = 0.0  # monotonic time its current status was first seen
    due: float = INF  # its next poll; INF: none planned
    # The time of its live item in the scheduler's heap (INF: none). Items at
    # other times are stale; a due time moved later leaves the item as it is.
    heaped: float = INF
    errors: int = 0
    cursor: str | None = None  # newest message id seen
    notified: bool = False
    hooked: bool = False  # its changes arrive by webhook: routine polls stretch
    hint: ProjectStatus | None = None  # the status the last notify announced
    fetch_messages: bool = False
    deferred: bool = False  # due, but its fleet ownership is not decided yet
    parked: bool = False
    polling: bool = False
    # Why it is watched; it is forgotten once no reason is left. ``watched``: a
    # ``watch()``; ``waiters``: ``wait()`` calls not woken yet; ``tracked``: it
    # holds an active slot of the client (until it is seen to leave the active
    # states). Each ends on its own: one wait's timeout ends no other reason.
    watched: bool = False
    tracked: bool = False
    waiters: list[Waiter] | None = None
    done: bool = False  # forgotten (unwatched, failed, settled): nothing more happens
    callbacks: list[Callback] | None = None

    @property
    def settled(self) -> bool:
        """Terminal and nothing left to fetch: waiters may return."""
        return self.project is not None and not self.fetch_messages and not self.notified

    @property
    def needed(self) -> bool:
        """Whether anyone still needs the entry (else it is forgotten)."""
        return self.watched or self.tracked or bool(self.waiters)


@attrs.define(eq=False)
class Waiter:
    """One ``wait()`` call: woken at each status change it follows (``updates``, when the
    wait has an ``on_update``) and when the project settles, or with its own error."""

    event: anyio.Event = attrs.Factory(anyio.Event)
    done: bool = False
    error: VideoAgentError | None = None
    project: Project | None = None  # the settled project it was woken with
    updates: list[Project] | None = None

    def update(self, project: Project) -> None:
        """The project moved to another status (kept only for a wait with ``on_update``)."""
        if self.updates is not None:
            self.updates.append(project)
            self.event.set()

    def take_updates(self) -> list[Project]:
        """The status changes since the last call."""
        updates, self.updates = self.updates or [], [] if self.updates is not None else None
        return updates

    def finish(self, project: Project | None, error: VideoAgentError | None) -> None:
        """The wait ends: with the settled ``project``, or with ``error``."""
        self.done, self.project, self.error = True, project, error
        self.event.set()


@attrs.define(eq=False)
class Lane:
    """The due polls of one client, i.e. of one request budget."""

    wiring: Wiring
    parked: list[tuple[float, int, Entry]] = attrs.Factory(list)
    notified: deque[Entry] = attrs.Factory(deque)
    draining: bool = False

    @property
    def time_scale(self) -> float:
        """The client's time scale."""
        return self.wiring.time_scale
