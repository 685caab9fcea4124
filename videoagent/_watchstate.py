"""What a ``ProjectWatcher`` keeps per project and per client (see its module).

An ``Entry`` per watched project, a ``Lane`` per client (i.e. per request
budget), and the in-flight registry that the watchers of one client share so
that two of them never poll one project at once. Plain state: the watcher
and its ``PollScheduler`` change it.
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import TYPE_CHECKING

import anyio
import attrs

from ._cadence import INF
from ._errors import VideoAgentError
from ._events import Callback
from ._limiter import WatchShare
from ._models import Project, ProjectStatus

if TYPE_CHECKING:
    from ._client import AsyncVideoAgent

__all__ = ["Entry", "Lane", "Waiter", "in_flight"]

#: Project ids with a watcher poll in flight, per transport (shared by every
#: watcher of a client, so two watchers never poll one project at once).
_IN_FLIGHT: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


def in_flight(transport: object) -> set[str]:
    """The ids of the projects a watcher is polling through ``transport`` (one shared set)."""
    return _IN_FLIGHT.setdefault(transport, set())


@attrs.define(eq=False)
class Entry:
    """One watched project. Kept small: a watcher may hold tens of thousands."""

    project_id: str
    lane: Lane
    status: ProjectStatus | None = None  # as last seen
    # The last answer, kept only once terminal (for wait): an active project's
    # answer (its raw JSON included) is dropped, which keeps an entry small.
    project: Project | None = None
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
    """One ``wait()`` call: woken when the project settles, or with its own error."""

    event: anyio.Event = attrs.Factory(anyio.Event)
    error: VideoAgentError | None = None
    project: Project | None = None  # the settled project it was woken with


@attrs.define(eq=False)
class Lane:
    """The due polls of one client, i.e. of one request budget."""

    client: AsyncVideoAgent
    parked: list[tuple[float, int, Entry]] = attrs.Factory(list)
    notified: deque[Entry] = attrs.Factory(deque)
    draining: bool = False
    in_flight: set[str] = attrs.Factory(set)  # shared by the watchers of this client
    share: WatchShare | None = None  # fleet mode: who polls which project
