"""Holding an active-project slot around a request that may activate a project.

Create, ``send_message`` and ``render`` each make a project active, and the
account allows 5 at once: ``Activation.run`` waits for a slot (FIFO), sends,
and binds the slot to the project the answer names. The shared watcher tracks
every project holding a slot, so a slot frees the moment its project is seen
to finish; while a request waits, our active projects and placeholders are
checked again now and then (a safety net that keeps its place in the queue).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ._config import RetryPolicy
from ._errors import APIError, ConfigurationError, ProjectLimitError
from ._models import Project
from ._retry import Attempts
from ._seams import Reservation, Slots
from ._tasks import task_group

__all__ = ["Activation", "SlotTracking"]

T = TypeVar("T")

#: Contract seconds between checks of our own active projects while create,
#: send_message or render waits for an active-project slot.
_SLOT_RECHECK = 30.0
#: When the slots of a client were last re-checked (monotonic): one waiter
#: re-checks for all that wait at the time.
_RECHECKED: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()


class SlotTracking:
    """Who keeps polling the projects that hold an active slot (the client's shared
    watcher serves it while it runs), so that each slot frees the moment its
    project is seen to finish."""

    def __init__(self) -> None:
        self._track: Callable[[str | Project], object] | None = None

    def serve(self, track: Callable[[str | Project], object]) -> None:
        """``track`` keeps polling each project handed to it from now on."""
        self._track = track

    def stop(self, track: Callable[[str | Project], object]) -> None:
        """``track`` no longer serves (if it still did)."""
        if self._track == track:
            self._track = None

    @property
    def serving(self) -> bool:
        """Whether a watcher keeps polling the projects handed to ``track``."""
        return self._track is not None

    def track(self, project: str | Project) -> None:
        """Keep polling ``project`` until it is seen to leave the active states (when a
        watcher serves; else nobody does, and waiting creates re-check by reading)."""
        if self._track is not None:
            self._track(project)


class Activation:
    """The active-project slot of each create, message and render of one client (copy).

    Args:
        slots: the account's active-project slots.
        limited: whether the slots limit anything (``Limits.active_projects``).
        tracking: keeps polling projects that hold a slot.
        poll: reads a project as the watcher would (to re-check our active
            projects when no watcher tracks them).
        read_account: ``GET /account`` with at most that many retries (its
            parse corrects the slots with the server's count).
        retry: the client's retry settings (``project_limit`` answers).
        time_scale: the client's.
    """

    def __init__(
        self,
        *,
        slots: Slots,
        limited: bool,
        tracking: SlotTracking,
        poll: Callable[[str], Awaitable[Project]],
        read_account: Callable[[int | None], Awaitable[object]],
        retry: RetryPolicy,
        time_scale: float,
    ) -> None:
        self._slots = slots
        self._limited = limited
        self._tracking = tracking
        self._poll = poll
        self._read_account = read_account
        self._retry = retry
        self._time_scale = time_scale

    async def run(
        self,
        send: Callable[[Attempts], Awaitable[T]],
        project_of: Callable[[T], Project],
        *,
        project_id: str | None,
    ) -> T:
        """Run ``send`` (create, message, render) holding an active-project slot.

        A ``project_limit`` 429 with a short ``Retry-After`` means the server
        counts active projects we do not know: take its count from
        ``GET /account``, wait for a slot again, and resend (the request had no
        effect; create's resend carries the same idempotency key).

        A failure that may have activated the project all the same (a lost
        answer, a 5xx, cancelled while sent) keeps the slot: a message's or
        render's project (``project_id``) holds it until it is seen idle; a
        create's, whose id we never learnt, is a placeholder until the server's
        count (``GET /account``, asked at once and while creates wait) ends it.
        """
        retry = self._retry
        reservation = await self._reserve()
        refusals = 0
        attempts = Attempts()
        try:
            while True:
                attempts = Attempts()  # what the caller did with this send
                try:
                    outcome = await send(attempts)
                except ProjectLimitError as exc:  # refused: it had no effect
                    refusals += 1
                    if (
                        exc.retry_after is None
                        or exc.retry_after > retry.max_retry_wait
                        or refusals > retry.max_retries
                    ):
                        raise
                    reservation.cancel()
                    await self._sync_slots()
                    await anyio.sleep(exc.retry_after * self._time_scale)
                    reservation = await self._reserve()
                    continue
                project = project_of(outcome)
                reservation.bind(project.id, active=project.status.is_active)
                if project.status.is_active and self._limited:
                    self._tracking.track(project)  # its slot frees when it is seen to finish
                return outcome
        except BaseException as exc:
            if attempts.may_have_acted:
                self._keep_slot(reservation, project_id)
                if project_id is None and isinstance(exc, Exception):
                    # The server's count at once ends a placeholder it does not see.
                    await self._sync_slots(max_retries=0)
            raise
        finally:
            reservation.cancel()

    def _keep_slot(self, reservation: Reservation, project_id: str | None) -> None:
        """A failed request may have activated the project: its slot stays taken."""
        if project_id is None:  # a create: which project, if any, we cannot know
            reservation.lapse()
            return
        reservation.bind(project_id, active=True)
        self._tracking.track(project_id)  # polled at once: seen idle, the slot frees

    async def _reserve(self) -> Reservation:
        """A slot. The shared watcher tracks every project holding one, so slots free
        the moment a project is seen to finish. While we wait, every ``_SLOT_RECHECK``
        our active projects are checked again (re-tracked; without a watcher, read),
        and placeholders re-counted by the server: a safety net that keeps our
        place in the queue."""
        if not self._limited:  # no slot accounting: never waits
            return await self._slots.reserve()
        self._track_held()
        granted: list[Reservation] = []
        try:
            async with task_group() as group:
                group.start_soon(self._recheck_slots, group.cancel_scope)
                granted.append(await self._slots.reserve())
                group.cancel_scope.cancel()
        except BaseException:
            for reservation in granted:  # cancelled from outside just as it was granted
                reservation.cancel()
            raise
        if not granted:  # the re-check found the client closed: stop waiting
            raise ConfigurationError("the client was closed while waiting for a slot")
        return granted[0]

    def _track_held(self) -> bool:
        """The shared watcher tracks every project holding a slot; False without one."""
        if not self._tracking.serving:
            return False
        for project_id in self._slots.held():
            self._tracking.track(project_id)
        return True

    async def _recheck_slots(self, waiting: anyio.CancelScope) -> None:
        """While a slot is waited for: re-check our active projects and placeholders.

        If the client is closed meanwhile, ``waiting`` is cancelled (the wait
        then raises ``ConfigurationError``, not an exception group).
        """
        period = _SLOT_RECHECK * self._time_scale
        while True:
            await anyio.sleep(period)
            now = time.monotonic()
            if _RECHECKED.get(self._slots, -math.inf) > now - period / 2:
                continue  # another waiter of this client just did
            _RECHECKED[self._slots] = now
            try:
                if not self._track_held():
                    for project_id in self._slots.held():
                        try:
                            await self._poll(project_id)
                        except APIError:
                            continue
                if self._slots.statistics().placeholders:
                    await self._sync_slots()
            except ConfigurationError:
                waiting.cancel()
                return

    async def _sync_slots(self, *, max_retries: int | None = None) -> None:
        """The server's count of active projects corrects the slots (if it answers)."""
        try:
            await self._read_account(max_retries)
        except APIError:
            return
