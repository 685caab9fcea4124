"""The request budget and the active-project slots.

Two limits of the account are enforced here, before the server has to:

- ``RequestBudget``: at most ``Limits.requests`` requests in any sliding
  window of ``Limits.per`` seconds. It is an exact sliding log, not a token
  bucket: a bucket refilled at 30 a minute admits 59 requests in one window
  after an idle spell, the log never more than 30. The server counts a
  request when it *arrives*; we cannot know when that was, only that it was
  before the answer came back. So a slot is held from the moment the request
  is sent until its answer is in, and then for one more window: the server's
  window always closes before ours does, and our count is never below its
  count.
- ``ActiveSlots``: at most ``Limits.active_projects`` projects in an active
  state at once. A create (or a message or render that re-activates a
  project) reserves a slot first; the slot comes back the moment the client
  sees the project leave the active states. A request that failed but may
  have activated a project all the same keeps its slot as a placeholder
  until the server's count says otherwise.

Both are FIFO within a priority, cancellable, and cost O(log n) per request.
Every wait is real time: contract seconds multiplied by ``time_scale``.

Everything above sees them only through the ``Budget`` and ``Slots``
protocols (``_seams``). ``LocalBackend`` is the default ``LimitsBackend``:
these classes, in this process. ``videoagent.fleet.RedisBackend`` implements
the same protocols with state shared by every process of the account.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Final

import anyio
import attrs

from ._config import Limits
from ._seams import (
    BudgetStatistics,
    Priority,
    Reservation,
    SlotStatistics,
    Ticket,
)

if TYPE_CHECKING:
    from ._models import Project
    from ._seams import WatchShare

__all__ = [
    "ActiveSlots",
    "LocalBackend",
    "LocalLimits",
    "PriorityGate",
    "RequestBudget",
]

_INF: Final = math.inf


@attrs.define(eq=False, order=False)
class _Waiter:
    priority: int
    seq: int
    event: anyio.Event = attrs.field(factory=anyio.Event)

    def __lt__(self, other: _Waiter) -> bool:
        return (self.priority, self.seq) < (other.priority, other.seq)


class PriorityGate:
    """Callers queue in (priority, arrival) order; only the head asks ``attempt``.

    ``attempt`` returns 0 (pass: it has taken what it waited for) or the real
    seconds to wait (``inf``: until woken); it may be a coroutine function (the
    fleet's asks Redis). The head sleeps that long, at most ``recheck``, or
    until ``wake()``; the others sleep until they become the head. A wake that
    arrives while the head is asking is not lost.
    """

    def __init__(self, *, recheck: float = _INF) -> None:
        self._heap: list[_Waiter] = []
        self._seq = itertools.count()
        self._recheck = recheck

    def __len__(self) -> int:
        return len(self._heap)

    def head_priority(self) -> int | None:
        """The priority of the first in line, if anyone waits."""
        return self._heap[0].priority if self._heap else None

    async def wait(
        self, priority: int, attempt: Callable[[], float] | Callable[[], Awaitable[float]]
    ) -> None:
        """Queue, and return once ``attempt`` (asked while at the head) says 0."""
        waiter = _Waiter(priority, next(self._seq))
        heapq.heappush(self._heap, waiter)
        try:
            while True:
                if self._heap[0] is not waiter:
                    await waiter.event.wait()
                    waiter.event = anyio.Event()
                    continue
                waiter.event = anyio.Event()  # before asking: a wake meanwhile counts
                answer = attempt()
                seconds = answer if isinstance(answer, int | float) else await answer
                if seconds <= 0:
                    self._leave(waiter)
                    return
                if self._heap[0] is waiter:
                    with anyio.move_on_after(min(seconds, self._recheck)):
                        await waiter.event.wait()
        except BaseException:
            if waiter in self._heap:
                self._leave(waiter)
            raise

    def wake(self) -> None:
        """Something changed that may let the head pass sooner: it asks again."""
        if self._heap:
            self._heap[0].event.set()

    def _leave(self, waiter: _Waiter) -> None:
        if self._heap[0] is waiter:
            heapq.heappop(self._heap)
        else:
            self._heap.remove(waiter)
            heapq.heapify(self._heap)
        self.wake()


class RequestBudget:
    """The sliding-window request limiter every API request of a client passes.

    Example::

        budget = RequestBudget(Limits(), time_scale=1.0)
        ticket = await budget.acquire()
        try:
            response = await send()
        finally:
            budget.release(ticket)

    ``observe`` feeds the server's ``X-RateLimit-*`` headers back (another
    client may share the account), ``pause`` a 429's ``Retry-After``.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._limit = limits.requests
        self._window = limits.per * time_scale
        self._hold = (limits.per + limits.margin) * time_scale
        self._reserve = 0 if self._limit is None else min(limits.reserve, self._limit - 1)
        self._time_scale = time_scale
        self._clock = clock
        self._wall_clock = wall_clock
        self._in_flight = 0
        self._log: deque[float] = deque()  # expiry times of answered requests, ascending
        self._foreign: list[float] = []  # heap: expiry times of other clients' requests
        self._paused_until = -_INF
        self._gate = PriorityGate()

    # -- the public protocol -------------------------------------------------

    async def acquire(self, priority: Priority = Priority.USER) -> Ticket:
        """Wait until a request may be sent; FIFO within a priority, cancellable."""
        if self._limit is None or not (self._gate or self._admission_delay(priority) > 0):
            return self._take(priority)
        await self._gate.wait(priority, lambda: self._admission_delay(priority))
        return self._take(priority)

    def try_acquire(self, priority: Priority = Priority.USER) -> Ticket | None:
        """A ticket if one is free right now and nobody waits ahead, else ``None``."""
        if self._limit is None:
            return self._take(priority)
        head = self._gate.head_priority()
        if head is not None and head <= priority:
            return None
        return self._take(priority) if self._admission_delay(priority) <= 0 else None

    def release(self, ticket: Ticket, *, counted: bool = True, linger: float = 0.0) -> None:
        """The answer (or the failure) is in; ``counted=False`` for a 429 answer.

        A counted request keeps its slot for one more window from now, plus
        ``linger`` contract seconds: a request that got no answer (timed out,
        cancelled) may still reach the server after we gave up on it. Releasing
        a ticket twice is a no-op, so ``finally`` blocks may release freely.
        """
        if not ticket.settle():
            return
        self._in_flight -= 1
        if counted and self._limit is not None:
            expiry = self._clock() + self._hold + max(linger, 0.0) * self._time_scale
            log = self._log
            if log and expiry < log[-1]:  # keep the log sorted: lingering ones end later
                expiry = log[-1]
            log.append(expiry)
        self._wake_head()

    def observe(self, *, remaining: int | None, reset: float | None) -> None:
        """Correct our count with the server's ``X-RateLimit-Remaining``/``Reset``.

        If the server counts more requests than we hold, another client shares
        the account: its requests are held for a whole window (we cannot know
        when they were sent). ``remaining == 0`` pauses until ``reset``.
        """
        if self._limit is None or remaining is None:
            return
        now = self._clock()
        self._purge(now)
        if remaining <= 0 and reset is not None:
            wait = (reset - self._wall_clock()) * self._time_scale
            if 0 < wait <= self._window:
                self._paused_until = max(self._paused_until, now + wait)
        deficit = (self._limit - max(remaining, 0)) - self._used()
        for _ in range(deficit):
            heapq.heappush(self._foreign, now + self._window)

    def pause(self, retry_after: float) -> None:
        """A 429 arrived: send nothing for ``retry_after`` contract seconds."""
        if not retry_after > 0:  # also refuses NaN
            return
        self._paused_until = max(
            self._paused_until, self._clock() + min(retry_after, 86_400.0) * self._time_scale
        )

    def statistics(self) -> BudgetStatistics:
        """A frozen snapshot of the budget's state."""
        now = self._clock()
        self._purge(now)
        return BudgetStatistics(
            limit=self._limit,
            in_flight=self._in_flight,
            held=len(self._log) + len(self._foreign),
            waiting=len(self._gate),
            paused_for=max(0.0, self._paused_until - now),
        )

    # -- internals -----------------------------------------------------------

    def _take(self, priority: Priority) -> Ticket:
        self._in_flight += 1
        return Ticket(priority)

    def _used(self) -> int:
        return self._in_flight + len(self._log) + len(self._foreign)

    def _purge(self, now: float) -> None:
        log = self._log
        while log and log[0] <= now:
            log.popleft()
        foreign = self._foreign
        while foreign and foreign[0] <= now:
            heapq.heappop(foreign)

    def _admission_delay(self, priority: Priority) -> float:
        """Real seconds until a request of ``priority`` may go (0: now; inf: on release)."""
        assert self._limit is not None
        now = self._clock()
        if self._paused_until > now:
            return self._paused_until - now
        self._purge(now)
        need = 1 if priority is Priority.USER else self._reserve + 1
        excess = self._used() + need - self._limit
        if excess <= 0:
            return 0.0
        # The excess-th earliest expiry frees enough; in-flight requests never expire.
        expiry = next(itertools.islice(_merged(self._log, self._foreign), excess - 1, None), None)
        return _INF if expiry is None else expiry - now

    def _wake_head(self) -> None:
        self._gate.wake()


def _merged(log: deque[float], foreign: list[float]) -> Iterator[float]:
    """The expiry times of ``log`` (sorted) and ``foreign`` (a heap), ascending."""
    return heapq.merge(log, sorted(foreign)) if foreign else iter(log)


class ActiveSlots:
    """The account's active-project slots, as this client knows them.

    Example::

        with await slots.reserve() as reservation:
            project = await post_create()
            reservation.bind(project.id, active=project.status.is_active)

    ``observe`` must see every project the client parses: a project seen in a
    non-active state frees its slot at once. ``sync`` takes the server's count
    (``GET /account``): active projects we do not know (another client, an
    earlier run) occupy slots for ``foreign_ttl`` real seconds, after which the
    server's answer (a ``project_limit`` 429) is the judge again.

    A reservation's own answer is observed before ``bind`` names it: an
    unknown active project seen while reservations are pending is set aside
    (counted by the reservation) until a ``bind`` claims it; one left over
    then was not ours after all and takes its slot as any other sighting.
    """

    def __init__(
        self,
        limit: int | None,
        *,
        foreign_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._held: set[str] = set()
        self._pending = 0
        # Unknown active projects seen while reservations were pending (oldest
        # first): maybe their own answers, which ``bind`` claims.
        self._seen: dict[str, None] = {}
        self._placeholders = 0
        self._foreign: list[float] = []  # heap of expiry times
        self._foreign_ttl = foreign_ttl
        self._clock = clock
        self._gate = PriorityGate()

    async def reserve(self) -> Reservation:
        """Wait (FIFO, cancellable) for a free slot and hold it."""
        if self._limit is not None and (self._gate or self._free_in() > 0):
            await self._gate.wait(0, self._free_in)
        self._pending += 1
        return Reservation(self)

    def observe(self, project_id: str, *, active: bool) -> None:
        """A project of the account was seen in an active (or other) state."""
        if active:
            if project_id in self._held or project_id in self._seen:
                return
            if self._pending:  # maybe a pending reservation's answer: its bind tells
                self._seen[project_id] = None
            else:
                self._adopt(project_id)
        elif project_id in self._held:
            self._held.discard(project_id)
            self._wake_head()
        else:
            self._seen.pop(project_id, None)

    def sync(self, active_on_server: int) -> None:
        """The server counts ``active_on_server`` active projects right now.

        Placeholders beyond the active projects we cannot name end (there is
        no such project); the unknown ones beyond them occupy slots a while.
        """
        if self._limit is None:
            return
        now = self._clock()
        self._purge(now)
        # Clamped: more unknown projects than the limit change nothing (and a huge
        # figure from a broken server must cost no more than a small one).
        active_on_server = min(max(active_on_server, 0), self._limit + len(self._held) + 1)
        unknown = max(0, active_on_server - len(self._held) - len(self._seen))
        self._placeholders = min(self._placeholders, unknown)
        for _ in range(unknown - self._placeholders - len(self._foreign)):
            heapq.heappush(self._foreign, now + self._foreign_ttl)
        self._wake_head()

    def held(self) -> frozenset[str]:
        """The ids of our projects that hold a slot."""
        return frozenset(self._held)

    def statistics(self) -> SlotStatistics:
        """A frozen snapshot of the slots."""
        self._purge(self._clock())
        return SlotStatistics(
            limit=self._limit,
            held=len(self._held),
            pending=self._pending,
            foreign=len(self._foreign),
            waiting=len(self._gate),
            placeholders=self._placeholders,
        )

    # -- how reservations end (``SlotHolder``) ---------------------------------

    def bound(self, project_id: str, *, active: bool) -> None:
        """A reservation's request answered: ``project_id`` holds the slot while active."""
        self._pending -= 1
        self._seen.pop(project_id, None)
        if active:
            self._held.add(project_id)
        else:
            self._held.discard(project_id)
        self._settle_seen()

    def cancelled(self) -> None:
        """A reservation's request failed without activating a project."""
        self._pending -= 1
        self._settle_seen()

    def lapsed(self) -> None:
        """A reservation's request failed but may have activated a project: a placeholder."""
        self._pending -= 1
        self._placeholders += 1
        self._settle_seen()

    # -- internals -----------------------------------------------------------

    def _adopt(self, project_id: str) -> None:
        """An unknown active project (not a reservation's answer) takes a slot."""
        if project_id in self._held:
            return
        self._held.add(project_id)
        if self._foreign:  # it was probably counted as foreign
            heapq.heappop(self._foreign)

    def _settle_seen(self) -> None:
        """Sightings beyond the pending reservations were not their answers: adopt them."""
        while len(self._seen) > self._pending:
            project_id = next(iter(self._seen))
            del self._seen[project_id]
            self._adopt(project_id)
        self._wake_head()

    def _purge(self, now: float) -> None:
        while self._foreign and self._foreign[0] <= now:
            heapq.heappop(self._foreign)

    def _free_in(self) -> float:
        """Real seconds until a slot is free (0: now; inf: when a project ends)."""
        assert self._limit is not None
        now = self._clock()
        self._purge(now)
        taken = len(self._held) + max(self._pending, len(self._seen)) + self._placeholders
        excess = taken + len(self._foreign) - (self._limit - 1)
        if excess <= 0:
            return 0.0
        if excess <= len(self._foreign):
            return heapq.nsmallest(excess, self._foreign)[-1] - now
        return _INF

    def _wake_head(self) -> None:
        self._gate.wake()


# -- the default backend: the limits in this process -------------------------------------


class LocalLimits:
    """One client's limits kept in this process (a ``SharedLimits``; nothing is shared)."""

    def __init__(self, limits: Limits, *, time_scale: float) -> None:
        self.budget = RequestBudget(limits, time_scale=time_scale)
        #: Unknown active projects of the account hold a slot 30 contract seconds.
        self.slots = ActiveSlots(limits.active_projects, foreign_ttl=30.0 * time_scale)
        self.watch: WatchShare | None = None
        self.tracks_projects = True

    def attach(self, observe: Callable[[Project], object]) -> None:
        """No other process shares answers."""

    def share_project(self, project: Project) -> None:
        """No other process listens."""

    async def __aenter__(self) -> LocalLimits:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@attrs.frozen
class LocalBackend:
    """The default ``LimitsBackend``: each client keeps its limits in its own process.

    Example::

        AsyncVideoAgent(limits_backend=LocalBackend())   # what happens without one
    """

    def connect(
        self, *, api_key: str, limits: Limits, time_scale: float, timeout: float
    ) -> LocalLimits:
        """The limits of one client, kept in memory."""
        return LocalLimits(limits, time_scale=time_scale)
