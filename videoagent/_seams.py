"""The seams: what each layer needs of the layer below it, as narrow typed interfaces.

The composition root (``_client.py``) builds the parts and hands each only
these: the resources and the watcher never see the client, and nothing
below the limits knows whether they live in this process or in Redis.

- ``Budget`` (requests per sliding window) and ``Slots`` (active projects)
  are the account's limits; ``_limiter`` implements them in-process and
  ``videoagent.fleet`` in Redis. Their tokens and snapshots (``Priority``,
  ``Ticket``, ``Reservation``, ``BudgetStatistics``, ``SlotStatistics``) are
  defined here, once, for both.
- ``SharedLimits`` is one client's connection to where the limits live (a
  budget, slots, and in fleet mode a ``WatchShare``); ``LimitsBackend``
  makes it (``AsyncVideoAgent(limits_backend=...)``).
- ``WatchShare`` lets the watchers of many processes poll each project once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from ._config import Limits
    from ._models import Project

__all__ = [
    "Budget",
    "BudgetStatistics",
    "LimitsBackend",
    "Priority",
    "Reservation",
    "SharedLimits",
    "SlotHolder",
    "SlotStatistics",
    "Slots",
    "Ticket",
    "WatchShare",
]


# -- the request budget ----------------------------------------------------------------


class Priority(enum.IntEnum):
    """Who asks for a request; lower values are served first.

    ``USER`` calls may use every free slot; ``NOTIFY`` and ``POLL`` (the
    watcher's) leave ``Limits.reserve`` slots of each window to the user.
    """

    USER = 0
    NOTIFY = 1
    POLL = 2


@attrs.define(eq=False)
class Ticket:
    """Permission to send one request; hand it back with ``Budget.release`` (once)."""

    priority: Priority
    released: bool = False

    def settle(self) -> bool:
        """Mark the ticket released; False if it already was (a second release is a no-op)."""
        if self.released:
            return False
        self.released = True
        return True


@attrs.frozen
class BudgetStatistics:
    """A snapshot of a request budget (like ``anyio.CapacityLimiter.statistics()``).

    Attributes:
        limit: requests allowed per window (``None``: unlimited).
        in_flight: requests sent whose answer is not in yet.
        held: answered requests still inside the window (ours and, from the
            server's headers, those of other clients on the account).
        waiting: callers waiting for a slot.
        paused_for: real seconds until a server ``Retry-After`` ends.
    """

    limit: int | None
    in_flight: int
    held: int
    waiting: int
    paused_for: float

    @property
    def in_window(self) -> int:
        """Requests that count against the limit right now (in flight and held)."""
        return self.in_flight + self.held


class Budget(Protocol):
    """The request limiter every API request passes (in-process, or a fleet's shared one)."""

    async def acquire(self, priority: Priority = Priority.USER) -> Ticket: ...
    def try_acquire(self, priority: Priority = Priority.USER) -> Ticket | None: ...
    def release(self, ticket: Ticket, *, counted: bool = True, linger: float = 0.0) -> None: ...
    def observe(self, *, remaining: int | None, reset: float | None) -> None: ...
    def pause(self, retry_after: float) -> None: ...
    def statistics(self) -> BudgetStatistics: ...


# -- the active-project slots ------------------------------------------------------------


@attrs.frozen
class SlotStatistics:
    """A snapshot of the active-project slots.

    Attributes:
        limit: active projects allowed (``None``: unlimited).
        held: projects of ours in an active state.
        pending: reservations whose request has not answered yet.
        foreign: active projects the server counts that we do not know.
        waiting: callers waiting for a slot.
        placeholders: slots kept for failed requests that may have activated a
            project all the same (``Reservation.lapse``); the server's count
            (``Slots.sync``) ends them.
    """

    limit: int | None
    held: int
    pending: int
    foreign: int
    waiting: int
    placeholders: int = 0


class SlotHolder(Protocol):
    """Where a ``Reservation`` reports how its request ended (the slots that made it)."""

    def bound(self, project_id: str, *, active: bool) -> None: ...
    def cancelled(self) -> None: ...
    def lapsed(self) -> None: ...


@attrs.define(eq=False)
class Reservation:
    """A slot held for a request that may activate a project.

    Call ``bind(project_id)`` when the answer names the project, ``cancel()``
    if the request failed, or ``lapse()`` if it failed but may have activated
    a project all the same; one of them exactly once (later calls are no-ops).
    Usable as a context manager that cancels unless bound.
    """

    holder: SlotHolder
    done: bool = False

    def bind(self, project_id: str, *, active: bool = True) -> None:
        """The request answered: ``project_id`` holds this slot while active."""
        if not self.done:
            self.done = True
            self.holder.bound(project_id, active=active)

    def cancel(self) -> None:
        """The request failed without activating a project: free the slot."""
        if not self.done:
            self.done = True
            self.holder.cancelled()

    def lapse(self) -> None:
        """The request failed, but may have activated a project we cannot name (a lost
        answer): the slot stays taken, as a placeholder, until the server's count of
        active projects (``Slots.sync``) shows no such project."""
        if not self.done:
            self.done = True
            self.holder.lapsed()

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()


class Slots(Protocol):
    """The account's active-project slots (in-process, or a fleet's leases)."""

    async def reserve(self) -> Reservation: ...
    def observe(self, project_id: str, *, active: bool) -> None: ...
    def sync(self, active_on_server: int) -> None: ...
    def held(self) -> frozenset[str]: ...
    def statistics(self) -> SlotStatistics: ...


# -- fleet mode: what several processes share ------------------------------------------


class WatchShare(Protocol):
    """How watchers of several processes share projects (fleet mode only).

    A watcher ``want``s every project it watches; it polls one only while
    ``owns`` says True (False: another process polls it and shares its
    answers; None: not decided yet, ``on_owned`` follows). ``relay`` passes a
    webhook's notify to the other processes. Callbacks registered with
    ``add_watcher`` receive ownership and relayed notifies.
    """

    def want(self, project_id: str) -> None: ...
    def unwant(self, project_id: str) -> None: ...
    def owns(self, project_id: str) -> bool | None: ...
    def relay(self, project_id: str, status: str | None) -> None: ...
    def add_watcher(
        self,
        on_owned: Callable[[str], object],
        on_notify: Callable[[str, str | None], object],
    ) -> None: ...
    def remove_watcher(self, on_owned: Callable[[str], object]) -> None: ...


class SharedLimits(Protocol):
    """One client's connection to where the account's limits live; entered with the client."""

    @property
    def budget(self) -> Budget: ...
    @property
    def slots(self) -> Slots: ...
    @property
    def watch(self) -> WatchShare | None: ...
    @property
    def tracks_projects(self) -> bool:
        """Whether the client's watcher keeps polling each project the client made
        active until it is seen to end (its slot frees then). False where a job
        queue's poll steps poll every project (``RedisBackend(polling="queue")``):
        whichever process sees a project end frees its slot."""
        ...

    def attach(self, observe: Callable[[Project], object]) -> None:
        """Where answers shared by other processes go (the client's project ledger)."""

    def share_project(self, project: Project) -> None:
        """Every fresh project the client parses, for the other processes."""

    async def __aenter__(self) -> SharedLimits: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


class LimitsBackend(Protocol):
    """Where the limits live (``AsyncVideoAgent(limits_backend=...)``): makes one client's
    ``SharedLimits``."""

    def connect(
        self, *, api_key: str, limits: Limits, time_scale: float, timeout: float
    ) -> SharedLimits: ...
