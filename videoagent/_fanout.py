"""Event fan-out: a watcher's events to its ``events()`` readers and ``on_event`` callbacks.

Each ``events()`` call is a ``Subscription``: an unbounded buffer (a slow
reader never slows polling), filtered by project ids, that ends when the
watcher closes. Closing one (``aclose()``), or dropping it unread, ends only
that subscription: later events, and the calls that cause them, go on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import weakref
from collections.abc import Iterable

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._events import Callback, CreditsLow, WatchEvent
from ._models import CreditsWarning

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = ["Fanout", "Subscription"]

logger = logging.getLogger("videoagent.watcher")


class Subscription:
    """One ``events()`` reader: a buffered stream of events, filtered by project ids."""

    def __init__(self, project_ids: frozenset[str]) -> None:
        self._project_ids = project_ids
        send: MemoryObjectSendStream[WatchEvent]
        receive: MemoryObjectReceiveStream[WatchEvent]
        send, receive = anyio.create_memory_object_stream[WatchEvent](math.inf)
        self._send = send
        self._receive = receive
        self._closed = False

    def offer(self, event: WatchEvent, project_id: str | None) -> None:
        """Buffer ``event`` if this reader follows its project (a closed reader drops it)."""
        if self._project_ids and project_id is not None and project_id not in self._project_ids:
            return
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.send_nowait(event)

    @property
    def closed(self) -> bool:
        """Whether no more events will come (unsubscribed, or the watcher closed)."""
        return self._closed

    def close(self) -> None:
        """No more events (the reader still gets those buffered)."""
        self._closed = True
        self._send.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Unsubscribe: nothing more is buffered, and reading ends."""
        self._closed = True
        self._send.close()
        self._receive.close()

    def __del__(self) -> None:
        self._send.close()
        self._receive.close()


class Fanout:
    """Hands each event to the callbacks of its project and to every subscription."""

    def __init__(self) -> None:
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._credits_balance: int | None = None

    def __bool__(self) -> bool:
        """Whether anyone reads events."""
        return any(not subscription.closed for subscription in self._subscriptions)

    def subscribe(self, project_ids: Iterable[str]) -> Subscription:
        """A new reader of the events of ``project_ids`` (all, if none)."""
        subscription = Subscription(frozenset(project_ids))
        self._subscriptions.add(subscription)
        return subscription

    def emit(
        self, event: WatchEvent, project_id: str | None, callbacks: Iterable[Callback] = ()
    ) -> None:
        """``event`` to the project's callbacks (an exception is logged), then to readers."""
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                logger.exception("an on_event callback of %s raised", project_id)
        for subscription in list(self._subscriptions):
            if subscription.closed:
                self._subscriptions.discard(subscription)
            else:
                subscription.offer(event, project_id)

    def credits(self, warning: CreditsWarning) -> None:
        """An answer's ``credits_warning``: a ``CreditsLow`` event when the balance moved."""
        if warning.balance != self._credits_balance:
            self._credits_balance = warning.balance
            self.emit(CreditsLow(warning), None)

    def close(self) -> None:
        """The watcher closed: every reader's stream ends (after what it buffered)."""
        for subscription in list(self._subscriptions):
            subscription.close()
        self._subscriptions.clear()
