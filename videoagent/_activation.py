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
from typing import TYPE_CHECKING, TypeVar

import anyio

from ._errors import APIError, ConfigurationError, ProjectLimitError
from ._limiter import Reservation
from ._models import Project
from ._transport import Attempts

if TYPE_CHECKING:
    from ._client import AsyncVideoAgent

__all__ = ["Activation"]

T = TypeVar("T")

#: Contract seconds between checks of our own active projects while create,
#: send_message or render waits for an active-project slot.
_SLOT_RECHECK = 30.0
#: When the slots of a transport were last re-checked (monotonic): one waiter
#: re-checks for all that wait at the time.
_RECHECKED: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()


class Activation:
    """The active-project slot of each create, message and render of one client (copy).

    Args:
        client: the client whose transport's slots, watcher and account are used.
        poll: reads a project as the watcher would (to re-check our active
            projects when no watcher tracks them).
    """

    def __init__(self, client: AsyncVideoAgent, poll: Callable[[str], Awaitable[Project]]) -> None:
        self._client = client
        self._poll = poll

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
        transport = self._client._transport
        retry = self._client._options.retry
        reservation = await self._reserve()
        refusals = 0
        attempts = Attempts()
        try:
            while True:
                attempts = Attempts()  # what the transport did with this send
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
                    await anyio.sleep(exc.retry_after * transport.time_scale)
                    reservation = await self._reserve()
                    continue
                project = project_of(outcome)
                reservation.bind(project.id, active=project.status.is_active)
                watcher = self._client._shared.watcher
                if (
                    watcher is not None
                    and project.status.is_active
                    and transport.limits.active_projects
                ):
                    watcher._track(project)  # its slot frees when it is seen to finish
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
        watcher = self._client._shared.watcher
        if watcher is not None:
            watcher._track(project_id)  # polled at once: seen idle, the slot frees

    async def _reserve(self) -> Reservation:
        """A slot. The shared watcher tracks every project holding one, so slots free
        the moment a project is seen to finish. While we wait, every ``_SLOT_RECHECK``
        our active projects are checked again (re-tracked; without a watcher, read),
        and placeholders re-counted by the server: a safety net that keeps our
        place in the queue."""
        transport = self._client._transport
        if transport.limits.active_projects is None:  # no slot accounting: never waits
            return await transport.slots.reserve()
        self._track_held()
        reservation: Reservation | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._recheck_slots, group.cancel_scope)
                reservation = await transport.slots.reserve()
                group.cancel_scope.cancel()
        except BaseException:
            if reservation is not None:  # cancelled from outside just as it was granted
                reservation.cancel()
            raise
        if reservation is None:  # the re-check found the client closed: stop waiting
            raise ConfigurationError("the client was closed while waiting for a slot")
        return reservation

    def _track_held(self) -> bool:
        """The shared watcher tracks every project holding a slot; False without one."""
        watcher = self._client._shared.watcher
        if watcher is None:
            return False
        for project_id in self._client._transport.slots.held():
            watcher._track(project_id)
        return True

    async def _recheck_slots(self, waiting: anyio.CancelScope) -> None:
        """While a slot is waited for: re-check our active projects and placeholders.

        If the client is closed meanwhile, ``waiting`` is cancelled (the wait
        then raises ``ConfigurationError``, not an exception group).
        """
        transport = self._client._transport
        period = _SLOT_RECHECK * transport.time_scale
        while True:
            await anyio.sleep(period)
            now = time.monotonic()
            if _RECHECKED.get(transport, -math.inf) > now - period / 2:
                continue  # another waiter of this client just did
            _RECHECKED[transport] = now
            try:
                if not self._track_held():
                    for project_id in transport.slots.held():
                        try:
                            await self._poll(project_id)
                        except APIError:
                            continue
                if transport.slots.statistics().placeholders:
                    await self._sync_slots()
            except ConfigurationError:
                waiting.cancel()
                return

    async def _sync_slots(self, *, max_retries: int | None = None) -> None:
        """The server's count of active projects corrects the slots (if it answers)."""
        client = self._client
        if max_retries is not None:
            client = client.with_options(max_retries=max_retries)
        try:
            await client.account.get()
        except APIError:
            return
