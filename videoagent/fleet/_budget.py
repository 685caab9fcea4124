"""``RedisBudget``: the request budget of a whole fleet, one sliding log in Redis.

The same semantics as the in-process ``RequestBudget``, kept in one sorted
set per account whose scores are expiry times on Redis's own clock:

- admitting a request adds an *in-flight* entry (``i:``) that expires after
  a provisional hold (the window, plus the longest the request may stay
  unanswered, at least one lease): it cannot expire while the request is in
  flight (the heartbeat extends it), nor outlive a process that died;
- the answer (``release``) replaces it by an *answered* entry (``d:``) held
  for one window (plus ``margin`` and any ``linger``) from the answer; a 429
  answer removes it. Nobody waits for an answered request's release (an
  entry in flight and an answered one count the same, and the in-flight one
  expires later), so it is a lazy write that rides along with this process's
  next call; its hold still runs from the answer. A release that frees a slot
  (not counted) or brings the server's count of requests we did not know
  about goes at once;
- the server's ``X-RateLimit-Remaining`` adds entries for requests of
  unknown clients, a 429's ``Retry-After`` blocks the whole account.

Priorities and the reserve work as in-process: polls leave ``Limits.reserve``
slots of the window to the user's calls. Within a process, callers queue by
(priority, arrival) and only the head asks Redis; it sleeps for the exact
wait the script returns, or until a release that may shorten it is
published. Each admitted request costs one round trip; its release most
often rides along with a later one.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Final

import attrs

from videoagent._config import Limits
from videoagent._limiter import PriorityGate
from videoagent._seams import BudgetStatistics, Priority, Ticket

from . import _scripts

if TYPE_CHECKING:
    from ._link import FleetLink

__all__ = ["RedisBudget"]

#: Real seconds a waiting head sleeps at most before asking Redis again
#: (a lost pub/sub message costs no more than this).
_RECHECK: Final = 2.0


@attrs.define(eq=False)
class _FleetTicket(Ticket):
    """A ticket whose request holds ``member`` in the account's log."""

    member: str = ""


class RedisBudget:
    """The fleet's request budget (a ``Budget``); see the module docstring."""

    def __init__(
        self, runtime: FleetLink, limits: Limits, *, time_scale: float, timeout: float
    ) -> None:
        self._rt = runtime
        self._limit = limits.requests
        self._reserve = 0 if self._limit is None else min(limits.reserve, self._limit - 1)
        self._time_scale = time_scale
        self._window_us = int(limits.per * time_scale * 1e6)
        self._hold_us = int((limits.per + limits.margin) * time_scale * 1e6)
        #: An in-flight entry's hold: past its longest answer, and renewed while in flight.
        self.provisional_us = self._hold_us + int(max(timeout * time_scale, runtime.lease) * 1e6)
        self._keys = [runtime.key("log"), runtime.key("wanted")]
        self._channel = runtime.key("released")
        self._gate = PriorityGate(recheck=_RECHECK)
        self._in_flight: set[str] = set()
        self._unlimited_in_flight = 0
        self._remaining: int | None = None
        self._paused_until = -math.inf
        self._entries = 0

    def wake(self) -> None:
        """Capacity may have freed (a release was published, or Redis came back)."""
        self._gate.wake()

    def members(self) -> list[str]:
        """The log members of this process's requests in flight (the heartbeat renews them)."""
        return list(self._in_flight)

    async def acquire(self, priority: Priority = Priority.USER) -> Ticket:
        """Wait until the account's log has a slot for this request (priority, then FIFO)."""
        if self._limit is None:
            self._unlimited_in_flight += 1
            return Ticket(priority)
        member = self._rt.next_id()
        need = 1 if priority is Priority.USER else self._reserve + 1
        args = [member, self._limit, need, self.provisional_us]
        sent = False

        async def attempt() -> float:
            nonlocal sent
            paused = self._paused_until - time.monotonic()
            if paused > 0:
                return paused
            sent = True
            result = await self._rt.run(_scripts.ACQUIRE, self._keys, args)
            wait_us, entries = int(result[1]), int(result[2])
            if entries >= 0:
                self._entries = entries
            return wait_us / 1e6

        try:
            await self._gate.wait(priority, attempt)
        except BaseException:
            if sent:  # it may have been admitted just before the cancel: give it back
                self._send_release(member, counted=False, hold_us=0)
            raise
        self._in_flight.add(member)
        return _FleetTicket(priority, member=member)

    def try_acquire(self, priority: Priority = Priority.USER) -> Ticket | None:
        """Only without a request limit (every admission asks Redis): else ``None``."""
        if self._limit is None:
            self._unlimited_in_flight += 1
            return Ticket(priority)
        return None

    def release(self, ticket: Ticket, *, counted: bool = True, linger: float = 0.0) -> None:
        """The answer is in: hold the entry a window from now (plus ``linger``), or drop it."""
        if not ticket.settle():
            return
        if not isinstance(ticket, _FleetTicket):
            self._unlimited_in_flight -= 1
            return
        self._in_flight.discard(ticket.member)
        hold = self._hold_us + int(max(linger, 0.0) * self._time_scale * 1e6)
        self._send_release(ticket.member, counted=counted, hold_us=hold)
        if not counted:
            self._gate.wake()

    def _send_release(self, member: str, *, counted: bool, hold_us: int) -> None:
        remaining, self._remaining = self._remaining, None
        args = [
            member,
            "1" if counted else "0",
            hold_us,
            -1 if remaining is None else remaining,
            self._limit,
            self._window_us,
            self._channel,
        ]
        # The server counts requests the log did not hold when we last looked: not lazy.
        unknown = remaining is not None and (self._limit or 0) - remaining > self._entries
        self._rt.enqueue(
            _scripts.RELEASE,
            self._keys,
            lambda age_us: [*args, age_us],
            lazy=counted and not unknown,
        )

    def observe(self, *, remaining: int | None, reset: float | None) -> None:
        """The server's count: sent with the next release (unknown clients' requests)."""
        if self._limit is None or remaining is None:
            return
        self._remaining = max(remaining, 0)
        if remaining <= 0 and reset is not None:
            wait = (reset - time.time()) * self._time_scale
            if 0 < wait * 1e6 <= self._window_us:
                self._block(wait)

    def pause(self, retry_after: float) -> None:
        """A 429: no process of the account sends for ``retry_after`` contract seconds."""
        if not retry_after > 0:
            return
        self._block(min(retry_after, 86_400.0) * self._time_scale)

    def _block(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        pause_us = int(seconds * 1e6)
        self._rt.enqueue(_scripts.PAUSE, [], lambda age_us: [pause_us, age_us])

    def statistics(self) -> BudgetStatistics:
        """This process's view: its requests in flight, the log's size when last seen."""
        in_flight = len(self._in_flight) + self._unlimited_in_flight
        return BudgetStatistics(
            limit=self._limit,
            in_flight=in_flight,
            held=max(0, self._entries - len(self._in_flight)),
            waiting=len(self._gate),
            paused_for=max(0.0, self._paused_until - time.monotonic()),
        )
