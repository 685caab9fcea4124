"""One client's connection to the fleet: Redis calls, queued writes, heartbeat, pub/sub.

``FleetRuntime`` is what ``RedisBackend.connect`` returns (a ``SharedLimits``):
the client enters it with ``async with`` and it runs three tasks in its own
task group:

- the *flusher* sends queued writes (a request's release, a slot's bind, a
  shared project answer) in pipelines, in order; while Redis is away they
  wait and are sent when it is back (nothing is lost). A *lazy* write (one
  no other process waits for, e.g. an answered request's release) waits up to
  half the window (or the lease, if shorter) for a call to ride along
  with: every call sends the writes queued before it in its own pipeline;
- the *heartbeat* (every ``lease / 4`` real seconds, or at once when asked)
  tells Redis this process lives, renews its slot leases (placeholders
  too, unless a server count ended them) and the holds of its requests in
  flight, and claims the projects it watches;
- the *listener* follows the account's pub/sub channels: freed capacity
  wakes local waiters (a freed slot, the process first in the queue only),
  shared answers and relayed notifies reach the watcher.

Every call that must succeed (an admission, a slot) goes through ``run``
(one round trip, with the queued writes ahead of it):
while Redis is unreachable it waits and retries with backoff, logging once
when Redis goes away and once when it is back. Nothing is admitted without
Redis (fail closed).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final

import anyio
import attrs
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from yarl import URL

from videoagent._config import Limits
from videoagent._errors import ConfigurationError
from videoagent._models import Project
from videoagent._tasks import BackgroundTasks

from . import _scripts
from ._budget import RedisBudget
from ._link import Args, FleetSettings, OnResult
from ._slots import RedisSlots
from ._watch import RedisWatchShare

__all__ = ["FleetRuntime", "FleetStatistics"]

logger: Final = logging.getLogger("videoagent.fleet")

_AWAY: Final = (RedisConnectionError, RedisTimeoutError, OSError)
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MAX: Final = 2.0
_FLUSH_BATCH: Final = 256
#: Real seconds the flusher may spend on queued writes when the client closes.
_CLOSE_FLUSH: Final = 2.0


@attrs.frozen
class FleetStatistics:
    """A snapshot of a client's fleet connection.

    Attributes:
        process: this process's id in the fleet (host:pid:random).
        account: the account's name in Redis (a hash of the API key unless named).
        round_trips: Redis round trips made (a pipeline is one).
        queued: writes waiting to be sent.
        redis_up: whether the last Redis call succeeded.
        outages: times Redis went away.
        epochs: times Redis was found to have lost its data (restarts).
    """

    process: str
    account: str
    round_trips: int
    queued: int
    redis_up: bool
    outages: int
    epochs: int


class _Op:
    __slots__ = ("args", "born", "keys", "on_result", "script")

    def __init__(
        self, script: str, keys: Sequence[str], args: Args, on_result: OnResult | None
    ) -> None:
        self.script = script
        self.keys = keys
        self.args = args
        self.on_result = on_result
        self.born = time.monotonic()

    def arguments(self) -> Sequence[Any]:
        if callable(self.args):
            return self.args(int((time.monotonic() - self.born) * 1e6))
        return self.args


class FleetRuntime:
    """A client's share of the fleet (see the module docstring); built by ``RedisBackend``."""

    def __init__(
        self,
        backend: FleetSettings,
        *,
        api_key: str,
        limits: Limits,
        time_scale: float,
        timeout: float,
    ) -> None:
        self.backend = backend
        self.account = backend.account or hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._prefix = f"{backend.prefix}:{{{self.account}}}:"
        self.lease = backend.lease
        #: Real seconds a lazy write waits for a call to ride along with.
        self.linger = min(self.lease, limits.per * time_scale) / 2
        hold = (limits.per + limits.margin) * time_scale
        # A Redis that lost its data: no request for a hold plus twice the longest
        # unanswered request (it may still reach the server after we gave up).
        self._quarantine_us = [str(int((hold + 2 * timeout * time_scale) * 1e6))]
        self._quarantine_us.append(str(int(self.lease * 1e6)))
        self._prelude_keys = [self.key(k) for k in ("epoch", "epoch_q", "blocked", "slots_blocked")]
        self.epoch = ""
        self.budget = RedisBudget(self, limits, time_scale=time_scale, timeout=timeout)
        queue_polls = backend.polling == "queue"
        #: The client's watcher polls the projects it makes active (no: a job queue does).
        self.tracks_projects = not queue_polls
        self.slots = RedisSlots(
            self,
            limits.active_projects,
            foreign_ttl=30.0 * time_scale,
            queue_polls=queue_polls,
            slot_wait=backend.slot_wait,
        )
        self.watch = RedisWatchShare(self)
        self._observe: Callable[[Project], object] | None = None
        # Redis names scripts by their SHA-1 (not a security use).
        self._shas = {s: hashlib.sha1(s.encode()).hexdigest() for s in _scripts.SCRIPTS}
        self._redis: Redis | None = None
        self._ops: deque[_Op] = deque()
        self._ops_ready = anyio.Event()
        self._ops_due = anyio.Event()
        self._flush_lock = anyio.Lock()
        self._beat_now = anyio.Event()
        self._tasks = BackgroundTasks("a fleet connection")
        self._random = random.Random()
        self._down_since: float | None = None
        self._round_trips = 0
        self._outages = 0
        self._epochs = 0
        self._closed = False
        self._counter = itertools.count()

    def __repr__(self) -> str:
        return f"<FleetRuntime process={self.process!r} account={self.account!r}>"

    def key(self, name: str) -> str:
        """The Redis key (or channel) ``name`` of this account."""
        return self._prefix + name

    # -- SharedLimits ----------------------------------------------------------------

    def attach(self, observe: Callable[[Project], object]) -> None:
        """The transport's ``observe_project``: answers shared by other processes go there."""
        self._observe = observe

    def share_project(self, project: Project) -> None:
        """Transport listener: a fresh project answer, for the other processes watching it."""
        self.watch.share(project)

    def deliver(self, project: Project) -> None:
        """A project answer another process shared, as if this process had polled it."""
        if self._observe is not None:
            self._observe(project)

    async def __aenter__(self) -> FleetRuntime:
        if self._redis is not None or self._closed:
            raise RuntimeError("a fleet connection can be entered once")
        self._redis = Redis.from_url(
            self.backend.url,
            socket_connect_timeout=self.backend.connect_timeout,
            socket_timeout=self.backend.socket_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        await self._tasks.open()
        self._tasks.start_soon(self._flusher, name="videoagent fleet flusher")
        self._tasks.start_soon(self._heartbeat, name="videoagent fleet heartbeat")
        self._tasks.start_soon(self._listener, name="videoagent fleet listener")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_FLUSH):
            await self._flush_all()
        try:  # an error of the block goes on as itself; a task's of ours surfaces once
            await self._tasks.aclose(passing=exc)
        finally:
            if self._redis is not None:
                with anyio.CancelScope(shield=True):
                    await self._redis.aclose()

    def statistics(self) -> FleetStatistics:
        """A frozen snapshot of this connection."""
        return FleetStatistics(
            process=self.process,
            account=self.account,
            round_trips=self._round_trips,
            queued=len(self._ops),
            redis_up=self._down_since is None,
            outages=self._outages,
            epochs=self._epochs,
        )

    # -- calls -------------------------------------------------------------------------

    def next_id(self) -> str:
        """A member id unique in the fleet (this process, a counter)."""
        return f"{self.process}:{next(self._counter)}"

    def _args(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        return [
            self._shas[script],
            len(keys) + 4,
            *self._prelude_keys,
            *keys,
            self.epoch,
            uuid.uuid4().hex,
            *self._quarantine_us,
            *args,
        ]

    def _client(self) -> Redis:
        if self._redis is None:
            raise ConfigurationError(
                "fleet mode (a RedisBackend) needs the client entered: "
                "`async with AsyncVideoAgent(...) as client:`"
            )
        return self._redis

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        """Run a script now, after the queued writes (one pipeline); while Redis is away,
        wait and retry (never give up)."""
        self._client()
        call = _Op(script, keys, args, None)
        attempt = 0
        while True:
            try:
                if self._ops and not self._flush_lock.locked():
                    async with self._flush_lock:
                        result = await self._send_queued(call)
                else:
                    (result,) = await self._send([call])
                    if isinstance(result, BaseException):
                        raise result
            except _AWAY as exc:
                await self._away(exc, attempt)
                attempt += 1
                continue
            self._back()
            self._seen(result)
            return list(result) if isinstance(result, list) else [result]

    def enqueue(
        self,
        script: str,
        keys: Sequence[str],
        args: Args,
        on_result: OnResult | None = None,
        *,
        lazy: bool = False,
    ) -> None:
        """Queue a write (sent in order, in pipelines, never dropped); a ``lazy`` one
        first waits up to ``linger`` for a call to ride along with."""
        self._ops.append(_Op(script, keys, args, on_result))
        self._ops_ready.set()
        if not lazy or len(self._ops) >= _FLUSH_BATCH:
            self._ops_due.set()

    async def publish(self, channel: str, message: str) -> None:
        """Publish now (best effort: a lost message only costs a waiter's re-check)."""
        try:
            self._round_trips += 1
            await self._client().publish(channel, message)
        except _AWAY as exc:
            logger.debug("publish to Redis failed: %s", exc)

    async def _load_scripts(self) -> None:
        redis = self._client()
        pipe = redis.pipeline(transaction=False)
        for source in _scripts.SCRIPTS:
            pipe.script_load(source)
        self._round_trips += 1
        await pipe.execute()

    async def _away(self, exc: BaseException, attempt: int) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._outages += 1
            logger.warning(
                "Redis at %s is unreachable (%s: %s): requests and creates wait "
                "(the limits stay closed) and retry until it is back",
                self._safe_url(),
                type(exc).__name__,
                exc,
            )
        ceiling = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2.0**attempt)
        await anyio.sleep(self._random.uniform(ceiling / 2, ceiling))

    def _back(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Redis at %s is back after %.1f s: requests resume",
                self._safe_url(),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _safe_url(self) -> str:
        url = URL(self.backend.url)
        return str(url.with_password("***")) if url.password else str(url)

    def _seen(self, result: Any) -> None:
        """Every script answers with the epoch first: a new one means Redis lost its data."""
        if not isinstance(result, list) or not result or not isinstance(result[0], str):
            return
        epoch = result[0]
        if epoch == self.epoch:
            return
        previous, self.epoch = self.epoch, epoch
        if previous:
            self._epochs += 1
            logger.warning(
                "Redis at %s lost the fleet's state (restarted?): no request goes out "
                "until every request it forgot is out of the window; leases are "
                "registered again",
                self._safe_url(),
            )
            self._beat_now.set()
            self.budget.wake()
            self.slots.wake()

    # -- the tasks -----------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            await self._ops_ready.wait()
            if not self._ops_due.is_set():  # only lazy writes: a call may take them along
                with anyio.move_on_after(self.linger):
                    await self._ops_due.wait()
            self._ops_ready = anyio.Event()
            self._ops_due = anyio.Event()
            await self._flush_all()

    async def _flush_all(self) -> None:
        async with self._flush_lock:  # the flusher task, or the close
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        attempt = 0
        while self._ops:
            batch = [self._ops[i] for i in range(min(len(self._ops), _FLUSH_BATCH))]
            try:
                results = await self._send(batch)
            except _AWAY as exc:
                await self._away(exc, attempt)
                attempt += 1
                continue
            attempt = 0
            self._back()
            self._settle(batch, results)

    async def _send_queued(self, call: _Op) -> Any:
        """``call``'s result, sent after the queued writes (the flush lock is held)."""
        batch = [self._ops[i] for i in range(min(len(self._ops), _FLUSH_BATCH))]
        results = await self._send([*batch, call])
        self._settle(batch, results[:-1])
        if isinstance(results[-1], BaseException):
            raise results[-1]
        return results[-1]

    def _settle(self, batch: list[_Op], results: list[Any]) -> None:
        """The queued writes of ``batch`` were sent: drop them, hand out their results."""
        for _ in batch:
            self._ops.popleft()
        for op, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("a fleet write failed: %s", result)
                continue
            self._seen(result)
            if op.on_result is not None:
                op.on_result(list(result))

    async def _send(self, batch: list[_Op]) -> list[Any]:
        redis = self._client()
        for _ in range(2):
            pipe = redis.pipeline(transaction=False)
            for op in batch:
                sha, numkeys, *rest = self._args(op.script, op.keys, op.arguments())
                pipe.evalsha(sha, numkeys, *rest)
            self._round_trips += 1
            results = await pipe.execute(raise_on_error=False)
            if not any(isinstance(r, NoScriptError) for r in results):
                return list(results)
            await self._load_scripts()
        raise ResponseError("the fleet's scripts could not be loaded")

    async def _heartbeat(self) -> None:
        interval = self.lease / 4
        while True:
            wants = self.watch.wanted()
            slot_members = self.slots.members()
            in_flight = self.budget.members()
            queued = self.slots.queued()
            placeholders = self.slots.placeholders()
            args: list[Any] = [
                self.process,
                str(int(self.lease * 1e6)),
                str(int(2 * self.lease * 1e6)),
                str(self.budget.provisional_us),
                len(slot_members),
                *slot_members,
                len(in_flight),
                *in_flight,
                len(wants),
                *wants,
                len(queued),
                *queued,
                len(placeholders),
                *placeholders,
            ]
            keys = [
                self.key(k)
                for k in (
                    "procs",
                    "slots",
                    "slot_owner",
                    "log",
                    "watch_owner",
                    "slot_queue_alive",
                    "slot_ended",
                )
            ]
            result = await self.run(_scripts.HEARTBEAT, keys, args)
            flags = [int(flag) for flag in result[2:]]
            slot_flags, flags = flags[: len(slot_members)], flags[len(slot_members) :]
            self.watch.decided(wants, flags[: len(wants)])
            self.slots.renewed(
                slot_members, slot_flags, placeholders, flags[len(wants) :], int(result[1])
            )
            with anyio.move_on_after(interval):
                await self._beat_now.wait()
            self._beat_now = anyio.Event()

    def beat_soon(self) -> None:
        """Run the heartbeat now (new projects to claim, or Redis lost its state)."""
        self._beat_now.set()

    async def _listener(self) -> None:
        channels = {self.key("released"): self.budget.wake}
        slots = self.key("slots")
        attempt = 0
        while True:
            pubsub = self._client().pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels, slots, self.key("notify"), self.key("project"))
                self._back()
                attempt = 0
                # Messages sent while we were away are lost: every waiter looks again.
                self.budget.wake()
                self.slots.wake()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    channel, data = str(message["channel"]), str(message["data"])
                    wake = channels.get(channel)
                    if wake is not None:
                        wake()
                    elif channel == slots:
                        if data == self.process:  # our ticket is first in the queue
                            self.slots.wake()
                    elif channel == self.key("notify"):
                        self.watch.relayed(data)
                    else:
                        self.watch.received(data)
            except _AWAY as exc:
                await self._away(exc, attempt)
                attempt += 1
            finally:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(*_AWAY):
                        await pubsub.aclose()
