"""``RedisSlots``: the account's active-project slots as leases in Redis.

A slot is a lease in one sorted set per account (score: expiry on Redis's
clock), held by a process (a hash names the holder):

- ``reserve`` takes a ticket in a FIFO queue in Redis and waits until the
  ticket is among the first free slots (at most ``slot_wait``, if set: then
  ``SlotWaitTimeoutError``, the ticket out of the queue); it then holds a pending lease
  (``r:<ticket>``) that ``bind`` turns into the project's lease (or drops).
  The first waiter of the process asks for every waiting ticket of the
  process at once: when a ticket arrives, when a lease is freed anywhere
  (published), when the first lease may lapse, and every lease otherwise (a
  lost message); the heartbeat keeps the queued tickets alive;
- the heartbeat renews every lease the process holds; a crashed process's
  leases lapse after two leases, and its projects can be adopted as soon as
  it stops beating (a live process that sees the project active takes it);
  a project adopted before its creator bound it goes back to the creator
  (the heartbeat leaves a live owner's lease alone), who frees it at the end;
- a project seen leaving the active states frees its lease at once: the
  holder's sighting; with a job queue polling (``polling="queue"``), any
  process's sighting: its lease goes whoever holds it (each project is
  polled by one task at a time, after the task that made it active, so the
  sighting is never older than the lease), the holder's heartbeat lets it
  go, and no older sighting adopts it again until a new bind; binds are
  then sent at once, before the task that made the project active ends;
- a reservation's own answer is observed before ``bind`` names it: an unknown
  active project seen while this process has reservations pending is set
  aside (its reservation's lease counts it) until a ``bind`` claims it; one
  left over then was not ours and is adopted as any other sighting;
- a request that failed but may have activated a project (``lapse``) keeps
  its lease as a placeholder (``p:<ticket>``), renewed by the heartbeat, so a
  dead process's placeholders lapse with its other leases;
- ``sync`` (the server's count from ``GET /account``, asked after a
  ``project_limit`` answer, after a lapse, and while creates wait behind
  placeholders) ends the placeholders beyond the active projects nobody
  names (whichever process holds them; the heartbeat tells their owner) and
  adds leases for the unknown ones beyond, for a while: the server is the truth.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import anyio

from videoagent._errors import VideoAgentError
from videoagent._seams import Reservation, SlotStatistics

from . import _scripts

if TYPE_CHECKING:
    from ._link import FleetLink

__all__ = ["RedisSlots", "SlotWaitTimeoutError"]


class SlotWaitTimeoutError(VideoAgentError, TimeoutError):
    """No active-project slot came free within ``RedisBackend.slot_wait``; nothing was sent.

    For job-queue workers: the task that gets it schedules itself again later
    instead of holding its worker while the account's projects run.
    """


class _Binder:
    """The reservation's link back to the slots (a ``SlotHolder``; called once)."""

    def __init__(self, slots: RedisSlots, ticket: str) -> None:
        self._slots = slots
        self._ticket = ticket

    def bound(self, project_id: str, *, active: bool) -> None:
        self._slots.settle(self._ticket, project_id, active=active)

    def cancelled(self) -> None:
        self._slots.settle(self._ticket, "", active=False)

    def lapsed(self) -> None:
        self._slots.keep_placeholder(self._ticket)


class _Unlimited:
    """The reservations of no slot limit (a ``SlotHolder`` that holds nothing)."""

    def bound(self, project_id: str, *, active: bool) -> None:
        pass

    def cancelled(self) -> None:
        pass

    def lapsed(self) -> None:
        pass


class RedisSlots:
    """The fleet's active-project slots (a ``Slots``); see the module docstring."""

    def __init__(
        self,
        runtime: FleetLink,
        limit: int | None,
        *,
        foreign_ttl: float,
        queue_polls: bool = False,
        slot_wait: float | None = None,
    ) -> None:
        self._rt = runtime
        self._queue_polls = queue_polls
        self._slot_wait = slot_wait
        self._limit = limit
        self._lease_us = int(2 * runtime.lease * 1e6)
        self._alive_us = int(runtime.lease * 1e6)
        self._foreign_us = int(foreign_ttl * 1e6)
        self._channel = runtime.key("slots")
        self._lease_keys = [runtime.key("slots"), runtime.key("slot_owner")]
        self._queue_keys = [
            runtime.key("slots"),
            runtime.key("slot_queue"),
            runtime.key("slot_queue_alive"),
            runtime.key("slot_queue_seq"),
            runtime.key("slot_owner"),
        ]
        self._ended_us = self._lease_us  # an ended lease is remembered a lease long
        self._ended_key = runtime.key("slot_ended")
        self._held: set[str] = set()
        self._pending: set[str] = set()
        # Unknown active projects seen while reservations were pending (oldest
        # first): maybe their own answers, which ``bind`` claims.
        self._seen: dict[str, None] = {}
        self._placeholders: set[str] = set()  # ours: p:<ticket>
        self._fleet_placeholders = 0  # every process's, when last seen
        self._adopting: dict[str, bool] = {}  # project id -> still wanted when the answer comes
        #: This process's waiting tickets in arrival order; each event is set
        #: when the ticket is granted or becomes the first (the one that asks).
        self._waiters: dict[str, anyio.Event] = {}
        self._ask_at = -math.inf  # when the first waiter asks Redis next (monotonic)
        self._changed = anyio.Event()
        self._leases = 0

    def wake(self) -> None:
        """A lease was freed somewhere (or Redis came back): the first waiter asks again."""
        self._ask_at = -math.inf
        self._changed.set()
        self._changed = anyio.Event()

    def members(self) -> list[str]:
        """Leases this process holds (the heartbeat renews them)."""
        return [*self._held, *(f"r:{ticket}" for ticket in self._pending)]

    def placeholders(self) -> list[str]:
        """Placeholders this process holds (the heartbeat renews those not ended)."""
        return list(self._placeholders)

    def renewed(
        self,
        members: list[str],
        kept: list[int],
        placeholders: list[str],
        placeholders_kept: list[int],
        in_fleet: int,
    ) -> None:
        """The heartbeat's answer: which leases and placeholders live on, and how many
        placeholders the fleet holds."""
        for member, flag in zip(members, kept, strict=False):
            if not flag:  # another live process bound the project we adopted early
                self._held.discard(member)
        for member, flag in zip(placeholders, placeholders_kept, strict=False):
            if not flag:  # a server count ended it
                self._placeholders.discard(member)
        self._fleet_placeholders = in_fleet

    def queued(self) -> list[str]:
        """Tickets of this process waiting in the queue (the heartbeat keeps them alive)."""
        return list(self._waiters)

    async def reserve(self) -> Reservation:
        """Wait, in the fleet's arrival order, for a free slot and hold it."""
        if self._limit is None:
            return Reservation(_Unlimited())
        ticket = self._rt.next_id()
        self._waiters[ticket] = event = anyio.Event()
        self.wake()  # the ticket joins the queue in Redis now
        try:
            with anyio.move_on_after(math.inf if self._slot_wait is None else self._slot_wait):
                while ticket not in self._pending:
                    if next(iter(self._waiters)) != ticket:
                        await event.wait()
                        continue
                    delay = self._ask_at - time.monotonic()
                    if delay <= 0:
                        await self._ask()
                        continue
                    changed = self._changed
                    with anyio.move_on_after(delay):
                        await changed.wait()
        except BaseException:
            self._give_up(ticket)
            raise
        if ticket not in self._pending:  # ``slot_wait`` ran out
            self._give_up(ticket)
            raise SlotWaitTimeoutError(
                f"no active-project slot came free within {self._slot_wait:g} s "
                "(RedisBackend.slot_wait); nothing was sent"
            )
        self._leave(ticket)
        return Reservation(_Binder(self, ticket))

    def _give_up(self, ticket: str) -> None:
        """``ticket`` stops waiting: out of the queue, and its lease (if granted) freed."""
        self._leave(ticket)
        self._pending.discard(ticket)
        self._dequeue(ticket)

    def _leave(self, ticket: str) -> None:
        """``ticket`` waits no more; if it was the first, the next one asks from now on."""
        first = next(iter(self._waiters), None)
        self._waiters.pop(ticket, None)
        if ticket == first and self._waiters:
            self._waiters[next(iter(self._waiters))].set()

    def _dequeue(self, ticket: str) -> None:
        """``ticket`` gave up: out of the queue, and its lease (if granted) freed."""
        keys = [*self._queue_keys[:3], self._queue_keys[4]]
        self._rt.enqueue(_scripts.DEQUEUE, keys, [ticket, self._channel])

    async def _ask(self) -> None:
        """One call for every waiting ticket of the process: grant those that may go."""
        rt = self._rt
        tickets = list(self._waiters)
        changed = self._changed
        args = [self._limit, self._lease_us, self._alive_us, rt.process, self._channel, *tickets]
        result = await rt.run(_scripts.RESERVE, self._queue_keys, args)
        hint, self._leases, self._fleet_placeholders = (int(x) for x in result[1:4])
        for ticket, flag in zip(tickets, result[4:], strict=False):
            event = self._waiters.get(ticket)
            if event is None:  # it gave up meanwhile: its DEQUEUE may have gone first
                self._dequeue(ticket)
            elif int(flag) == 1:
                self._pending.add(ticket)
                event.set()
        if not changed.is_set():  # else something changed while asking: ask again
            # Look again when the first lease may lapse, and every lease (lost messages).
            wait = self._rt.lease if hint < 0 else min(hint / 1e6, self._rt.lease)
            self._ask_at = time.monotonic() + wait

    def settle(self, ticket: str, project_id: str, *, active: bool) -> None:
        """``ticket``'s reservation answered with ``project_id`` (or was cancelled: "")."""
        self._pending.discard(ticket)
        self._seen.pop(project_id, None)
        if active:
            self._held.add(project_id)
        self._rebind(ticket, project_id, active=active)
        self._settle_seen()

    def keep_placeholder(self, ticket: str) -> None:
        """The request failed but may have activated a project: the lease stays a placeholder."""
        self._pending.discard(ticket)
        placeholder = f"p:{ticket}"
        self._placeholders.add(placeholder)
        self._fleet_placeholders += 1
        self._rebind(ticket, placeholder, active=True, lazy=False)
        self._settle_seen()

    def _rebind(self, ticket: str, member: str, *, active: bool, lazy: bool = True) -> None:
        """The pending lease ``r:<ticket>`` becomes ``member``'s (or is freed: not active)."""
        # The lease only changes its name (lazy); a freed one goes at once, and so does
        # every bind when a job queue polls: the next task may see the project end.
        self._rt.enqueue(
            _scripts.BIND,
            [*self._lease_keys, self._rt.key("slot_queue"), self._ended_key],
            [ticket, member, "1" if active else "0", self._lease_us, self._rt.process,
             self._channel],
            lazy=lazy and active and not self._queue_polls,
        )  # fmt: skip

    def observe(self, project_id: str, *, active: bool) -> None:
        """A project seen active is held (unless a live process holds it); inactive, freed."""
        if active:
            if project_id in self._held or project_id in self._adopting:
                return
            if project_id in self._seen:
                return
            if self._pending:  # maybe a pending reservation's answer: its bind tells
                self._seen[project_id] = None
            else:
                self._adopt(project_id)
            return
        self._seen.pop(project_id, None)
        if project_id in self._adopting:
            self._adopting[project_id] = False
        if self._queue_polls:
            self._held.discard(project_id)
            self._free_seen(project_id)
        elif project_id in self._held:
            self._held.discard(project_id)
            self._release(project_id)

    def _settle_seen(self) -> None:
        """Sightings beyond the pending reservations were not their answers: adopt them."""
        while len(self._seen) > len(self._pending):
            project_id = next(iter(self._seen))
            del self._seen[project_id]
            self._adopt(project_id)

    def _adopt(self, project_id: str) -> None:
        """An unknown active project (not a reservation's answer): hold it unless a live
        process does."""
        if project_id in self._held or project_id in self._adopting:
            return
        self._adopting[project_id] = True

        def adopted(result: list[Any]) -> None:
            wanted = self._adopting.pop(project_id, False)
            if int(result[1]) != 1:
                return
            if wanted:
                self._held.add(project_id)
            else:  # it ended meanwhile
                self._release(project_id)

        self._rt.enqueue(
            _scripts.ADOPT,
            [*self._lease_keys, self._rt.key("procs"), self._ended_key],
            [project_id, self._lease_us, self._rt.process],
            adopted,
            lazy=True,
        )

    def _release(self, project_id: str) -> None:
        self._rt.enqueue(
            _scripts.RELEASE_SLOT,
            [*self._lease_keys, self._rt.key("slot_queue")],
            [project_id, self._rt.process, self._channel],
        )
        self.wake()

    def _free_seen(self, project_id: str) -> None:
        """Queue polling: a project seen ended frees its lease, whoever holds it."""
        self._rt.enqueue(
            _scripts.RELEASE_SEEN,
            [*self._lease_keys, self._rt.key("slot_queue"), self._ended_key],
            [project_id, self._channel, self._ended_us],
        )
        self.wake()

    def sync(self, active_on_server: int) -> None:
        """The server counts ``active_on_server``: placeholders beyond the active projects
        nobody names end; the unknown ones beyond them take leases for a while."""

        def synced(result: list[Any]) -> None:
            self._fleet_placeholders = int(result[2])
            self._placeholders.difference_update(result[3:])

        if self._limit is None:
            return
        # Clamped: more than the limit changes nothing (a broken server's huge figure
        # must cost no more than a small one, in Redis too).
        active_on_server = min(max(active_on_server, 0), 2 * self._limit)
        rt = self._rt
        rt.enqueue(
            _scripts.SYNC,
            [rt.key("slots"), rt.key("slot_queue"), rt.key("slot_owner"), rt.key("slot_ended")],
            [active_on_server, self._foreign_us, rt.next_id(), self._channel, self._ended_us],
            synced,
        )

    def held(self) -> frozenset[str]:
        """The projects whose lease this process holds."""
        return frozenset(self._held)

    def statistics(self) -> SlotStatistics:
        """This process's leases; ``foreign``: the other leases when last seen (other
        processes' placeholders among them); ``placeholders``: the fleet's, when last seen."""
        mine = len(self._held) + len(self._pending) + len(self._placeholders)
        return SlotStatistics(
            limit=self._limit,
            held=len(self._held),
            pending=len(self._pending),
            foreign=max(0, self._leases - mine),
            waiting=len(self._waiters),
            placeholders=max(len(self._placeholders), self._fleet_placeholders),
        )
