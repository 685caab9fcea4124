"""Webhooks: one signed POST per status change, delivered once, never retried.

One scheduler task (not one per project) keeps a heap of the next transition
time of every project that has a ``webhook_url`` and advances each one when
its time comes; the engine then reports the change, and a few delivery
workers POST it. Events of one project always go through the same worker,
so they arrive in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import zlib
from collections.abc import Callable

import aiohttp
import attrs

from ._clock import Clock
from ._ids import IdFactory
from ._log import RecordLog
from ._model import Project
from ._views import iso

__all__ = ["Delivery", "WebhookDispatcher", "sign"]

_log = logging.getLogger(__name__)
_WORKERS = 8


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`` under ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


@attrs.frozen
class Delivery:
    """One webhook POST the simulator made (``status`` None: no answer)."""

    event_id: str
    project_id: str
    project_status: str
    url: str
    status: int | None


@attrs.define(eq=False)
class _Event:
    url: str
    secret: str
    event_id: str
    project_id: str
    status: str
    body: bytes


class WebhookDispatcher:
    """Schedules the timely advance of webhook projects and delivers their events."""

    def __init__(
        self,
        clock: Clock,
        ids: IdFactory,
        advance: Callable[[Project, float], None],
        deliveries: RecordLog[Delivery],
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._advance = advance
        self._heap: list[tuple[float, int, Project]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._queues: list[asyncio.Queue[_Event]] = [asyncio.Queue() for _ in range(_WORKERS)]
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        #: the newest deliveries attempted, in order (``total``: all of them)
        self.deliveries = deliveries
        clock.on_advance(self.wake)

    def wake(self) -> None:
        """Re-check the schedule now (the clock moved, or an earlier deadline came)."""
        self._wake.set()

    def schedule(self, project: Project) -> None:
        """Remember to advance ``project`` at its ``next_at``."""
        if project.next_at is None:
            return
        heap = self._heap
        earliest = heap[0][0] if heap else None
        heapq.heappush(heap, (project.next_at, next(self._seq), project))
        if earliest is None or project.next_at < earliest:
            self._wake.set()

    def emit(self, project: Project, status: str, at: float) -> None:
        """Queue the webhook of one status change of ``project`` (if it has a URL)."""
        if project.webhook_url is None:
            return
        event_id = self._ids.make("evt")
        body = json.dumps(
            {
                "id": event_id,
                "type": "project.status_changed",
                "project_id": project.id,
                "status": status,
                "created_at": iso(at),
            },
            separators=(",", ":"),
        ).encode()
        event = _Event(
            project.webhook_url, project.account.webhook_secret, event_id, project.id, status, body
        )
        self._queues[zlib.crc32(project.id.encode()) % _WORKERS].put_nowait(event)

    async def start(self) -> None:
        """Start the scheduler and the delivery workers."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._tasks.append(asyncio.create_task(self._schedule_loop()))
        self._tasks.extend(asyncio.create_task(self._deliver_loop(q)) for q in self._queues)

    async def close(self) -> Exception | None:
        """Stop every task and close the HTTP session; the error a task died of, if any."""
        for task in self._tasks:
            task.cancel()
        # (gather: a cancellation of the caller meanwhile is not swallowed)
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
        return next((error for error in outcomes if isinstance(error, Exception)), None)

    async def _schedule_loop(self) -> None:
        heap = self._heap
        while True:
            self._wake.clear()
            now = self._clock.now()
            while heap and heap[0][0] <= now:
                _, _, project = heapq.heappop(heap)
                if project.next_at is not None and project.next_at <= now:
                    self._advance(project, now)
            timeout = heap[0][0] - now if heap else None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver_loop(self, queue: asyncio.Queue[_Event]) -> None:
        while True:
            event = await queue.get()
            await self._deliver(event)

    async def _deliver(self, event: _Event) -> None:
        assert self._session is not None
        timestamp = str(int(self._clock.unix()))
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": event.event_id,
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": sign(event.secret, timestamp, event.body),
        }
        status: int | None = None
        try:
            async with self._session.post(event.url, data=event.body, headers=headers) as answer:
                status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            _log.debug("webhook %s to %s not delivered: %r", event.event_id, event.url, exc)
        self.deliveries.append(
            Delivery(event.event_id, event.project_id, event.status, event.url, status)
        )
