"""``PollScheduler``: when each watched project's poll goes, within its client's budget.

The mechanics under a ``ProjectWatcher`` (see its module for the overview):

- One heap of due times and one task that sleeps until the earliest. An
  entry has at most one *live* heap item, at ``Entry.heaped``. A due time
  moved earlier pushes a new item (the old one turns stale); one moved later
  pushes nothing: when the live item pops, the entry goes back in at its
  ``due``. So answers the client parses (a user's ``get`` in a loop) cost no
  heap work, and the heap holds about one item per polled project.
- A due entry polls at once if its client's budget has a free slot, else it
  *parks* in its client's ``Lane``; the lane's drainer waits for slots and
  hands them out, notified entries first, then by ``_cadence.fairness_key``.
- A poll is handed, with its ticket, to one of at most ``_MAX_WORKERS``
  worker tasks. Whoever holds a ticket releases it: the poll hands it to the
  API call it makes (which releases it when its attempt ends); a ticket whose
  poll never goes (its entry forgotten meanwhile, the watcher closed) the
  scheduler gives back.

What a poll does, whether a due poll is put off, and when an entry is due
next are the watcher's: it passes them in as callables.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import anyio
import anyio.abc

from . import _cadence
from ._cadence import INF
from ._seams import Priority, Ticket
from ._watchstate import Entry, Lane

__all__ = ["PollScheduler", "TaskStarter"]


class TaskStarter(Protocol):
    """Where the scheduler starts its task: a task group's ``start`` (``BackgroundTasks``)."""

    async def start(
        self, function: Callable[..., Coroutine[Any, Any, object]], *, name: str
    ) -> object: ...


#: Polls in flight at most (workers are started as needed): when 10,000
#: projects fall due at once, the rest wait as (entry, ticket) pairs of a
#: hundred bytes, not as tasks holding a request each. Enough to keep
#: aiohttp's connection pool (100) busy: fewer cost CPU per request.
_MAX_WORKERS = 256
#: Contract seconds between two timer wakes of the scheduler at least: with
#: thousands of projects, polls due within 50 ms share one wake (and a poll
#: is at most that late); fewer wakes, less CPU per poll.
_COALESCE = 0.05


class PollScheduler:
    """Hands each entry's poll to a worker when it is due and its budget has a slot.

    Args:
        poll: one turn of an entry, given its budget ticket to release (by the
            call it makes); must not raise for a failed request.
        polled: called after each turn (the entry is no longer polling):
            the watcher plans the next one.
        put_off: whether a due poll is put off (the watcher re-plans it).
        clock: monotonic seconds (the watcher's clock).
        time_scale: the timer wakes' quantum, ``_COALESCE`` contract seconds.
    """

    def __init__(
        self,
        *,
        poll: Callable[[Entry, Ticket], Awaitable[None]],
        polled: Callable[[Entry], None],
        put_off: Callable[[Entry], bool],
        clock: Callable[[], float],
        time_scale: float,
    ) -> None:
        self._poll = poll
        self._polled = polled
        self._put_off = put_off
        self._quantum = _COALESCE * time_scale
        self._clock = clock
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = itertools.count()  # ties in the heaps: never compare entries
        self._wakeup: anyio.Event | None = None
        self._task_group: anyio.abc.TaskGroup | None = None  # its drainers and workers
        self._ready: deque[tuple[Entry, Ticket]] = deque()  # polls waiting for a worker
        self._sleepers: list[anyio.Event] = []  # idle workers
        self._workers = 0

    @property
    def heap_size(self) -> int:
        """Items in the due-time heap, stale ones included."""
        return len(self._heap)

    async def start(self, tasks: TaskStarter) -> None:
        """Run the scheduler task in ``tasks``; its drainers and workers are its own."""
        await tasks.start(self._run, name="videoagent watcher")

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with anyio.create_task_group() as group:
            self._task_group = group
            self._wakeup = anyio.Event()
            task_status.started()
            try:
                await self._schedule_loop()
            finally:
                self._task_group = None

    def close(self) -> None:
        """The task group is done: give back the tickets of polls that never went."""
        while self._ready:
            entry, ticket = self._ready.popleft()
            entry.lane.wiring.budget.release(ticket, counted=False)
        self._heap.clear()

    # -- due times -----------------------------------------------------------------

    def set_due(self, entry: Entry, due: float) -> None:
        """The entry's next poll is due at ``due`` (monotonic seconds)."""
        entry.due = due
        if entry.parked or entry.polling:
            return  # it goes (again) when the current turn ends
        if due < entry.heaped:  # later: its live item goes back in when it pops
            entry.heaped = due
            heapq.heappush(self._heap, (due, next(self._seq), entry))
            if self._heap[0][2] is entry and self._wakeup is not None:
                self._wakeup.set()

    def hurry(self, entry: Entry) -> None:
        """The entry was notified: parked, it goes first in its lane; else it is due now."""
        if entry.parked:
            entry.lane.notified.append(entry)
            self._drain_soon(entry.lane)
        elif not entry.polling:
            self.set_due(entry, self._clock())

    async def _schedule_loop(self) -> None:
        """The one scheduler task: hand each due entry on, sleep till the next."""
        heap = self._heap
        while True:
            now = self._clock()
            while heap and heap[0][0] <= now:
                heaped, _, entry = heapq.heappop(heap)
                if heaped != entry.heaped:
                    continue  # stale: an earlier item of this entry went first
                entry.heaped = INF
                if entry.done:
                    continue
                if entry.due <= now:
                    self._dispatch(entry)
                elif entry.due < INF:  # moved later (a fresh answer): back in
                    entry.heaped = entry.due
                    heapq.heappush(heap, (entry.due, next(self._seq), entry))
            # Timer wakes come at most every ``quantum``: polls falling due in
            # between go together (a little later, never sooner). A notify or
            # a first poll still wakes the loop at once.
            delay = max(heap[0][0] - now, self._quantum) if heap else INF
            assert self._wakeup is not None
            with anyio.move_on_after(delay):
                await self._wakeup.wait()
            self._wakeup = anyio.Event()

    # -- lanes ---------------------------------------------------------------------

    def _dispatch(self, entry: Entry) -> None:
        """Poll now if the budget has a slot and nobody is parked; else park."""
        if self._put_off(entry):
            return
        lane = entry.lane
        if not lane.parked:
            priority = Priority.NOTIFY if entry.notified else Priority.POLL
            ticket = lane.wiring.budget.try_acquire(priority)
            if ticket is not None:
                self._start_poll(entry, ticket)
                return
        entry.parked = True
        key = _cadence.fairness_key(entry.due, entry.status, lane.time_scale)
        heapq.heappush(lane.parked, (key, next(self._seq), entry))
        if entry.notified:
            lane.notified.append(entry)
        self._drain_soon(lane)

    def _drain_soon(self, lane: Lane) -> None:
        if not lane.draining and self._task_group is not None:
            lane.draining = True
            self._task_group.start_soon(self._drain, lane)

    async def _drain(self, lane: Lane) -> None:
        """Wait for a request slot, then poll the parked entry that should go first."""
        budget = lane.wiring.budget
        try:
            while lane.parked:
                priority = Priority.NOTIFY if lane.notified else Priority.POLL
                ticket = await budget.acquire(priority)
                entry = _pop_parked(lane)
                if entry is None:
                    budget.release(ticket, counted=False)
                    return
                self._start_poll(entry, ticket)
        finally:
            lane.draining = False

    # -- workers -------------------------------------------------------------------

    def _start_poll(self, entry: Entry, ticket: Ticket) -> None:
        """Hand the poll to an idle worker, or a new one, or queue it for the next free one."""
        entry.polling = True
        entry.lane.wiring.in_flight.add(entry.project_id)
        if ticket.priority is Priority.NOTIFY:
            self._ready.appendleft((entry, ticket))
        else:
            self._ready.append((entry, ticket))
        if self._sleepers:
            self._sleepers.pop().set()
        elif self._workers < _MAX_WORKERS:
            assert self._task_group is not None
            self._workers += 1
            self._task_group.start_soon(self._worker)

    async def _worker(self) -> None:
        """Poll what is ready; sleep when nothing is."""
        ready = self._ready
        while True:
            while ready:
                entry, ticket = ready.popleft()
                try:
                    if entry.done:  # unwatched (or failed) while it waited: never sent
                        entry.lane.wiring.budget.release(ticket, counted=False)
                    else:
                        await self._poll(entry, ticket)
                finally:
                    entry.polling = False
                    entry.lane.wiring.in_flight.discard(entry.project_id)
                if not entry.done:
                    self._polled(entry)
            wakeup = anyio.Event()
            self._sleepers.append(wakeup)
            await wakeup.wait()


def _pop_parked(lane: Lane) -> Entry | None:
    """The parked entry that goes first: notified ones, then by fairness key."""
    while lane.notified:
        entry = lane.notified.popleft()
        if entry.parked and not entry.done:
            entry.parked = False
            return entry
    while lane.parked:
        _, _, entry = heapq.heappop(lane.parked)
        if entry.parked and not entry.done:
            entry.parked = False
            return entry
    return None
