"""How a blocking call crosses to the engine's event loop and back, at the least cost.

A call from a thread (``Engine.call``) is a ``Call``: the caller posts it
through the loop's ``Doorbell`` and sleeps on the call's queue; on the loop,
the doorbell is answered within the poll for I/O that hears it, and the
call's task takes its first step in that same turn; when the task ends, the
caller is told just before the loop next waits for I/O (both are hooks of
the ``EngineLoop``'s selector)::

    caller thread                          engine thread (its loop)
    Doorbell.post(call) --- eventfd --->   poll: answer(), the call's task  [turn 1]
    sleeps on call.jobs                    runs ... awaits I/O
                                           the task ends: finished          [turn 2 ...]
    wakes (call.jobs: None)  <----------   before the next poll: tell

Each part is there for a measured reason (``benchmarks/blocking_throughput.py``:
GETs from one thread against a local simulator, where the hand-off is most of
the difference):

- **The doorbell is an eventfd** (Linux; elsewhere ``call_soon_threadsafe``),
  rung once for all the calls posted before the loop answers: asyncio's own
  wake-up is a socket pair whose reader loops until ``BlockingIOError``.
- **It is answered in the poll that hears it**, not by a reader callback
  the loop would run after it: the task scheduled there starts in the same
  turn, not the next (a turn, 2% of a request's instructions, less; it is
  what Python 3.12's eager tasks would save, on every version).
- **The caller is told as the loop is about to wait**, not as the task ends:
  woken earlier, it would find the engine thread still holding the GIL
  (finishing the task, starting the next turn) and only wait again.
- **The engine thread does not preempt the caller that wakes it**
  (``SCHED_BATCH`` on Linux, see ``yield_on_wake``): woken by the doorbell on
  the caller's CPU, it would run at once, take the GIL the caller is about to
  need, and both threads would ping-pong on it. With it, a call costs two
  context switches beyond the async client's (the benchmark counts them).
- **The loop reads 64 KiB at a time**, not asyncio's 256 KiB (``EngineLoop``):
  off the main thread, each 256 KiB read cost a ``mmap``, a ``munmap`` and
  page faults (2 a request), and the blocking client about 10 points of the
  async client's requests per second (75-78% then, 81-89% now). The price:
  a large download costs 0.2-0.5 CPU seconds more per GB (the same
  benchmark reads 64 MiB on both loops).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import inspect
import logging
import os
import queue
import selectors
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar, cast

__all__ = ["Call", "Doorbell", "EngineLoop", "yield_on_wake"]

logger = logging.getLogger("videoagent")

T = TypeVar("T")


class Call(Generic[T]):
    """One blocking call: what its task runs (in a copy of the caller's context, as
    ``asyncio.to_thread`` carries it the other way), and the queue its caller waits on.

    The queue carries the callbacks handed back to the caller, then ``None``
    once ``value`` or ``error`` is set.
    """

    __slots__ = (
        "args",
        "context",
        "error",
        "func",
        "given_up",
        "jobs",
        "kwargs",
        "task",
        "value",
    )

    def __init__(
        self, func: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.jobs: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self.task: asyncio.Task[None] | None = None
        self.given_up = False
        self.value: T | None = None
        self.error: BaseException | None = None
        self.context = contextvars.copy_context()  # (tracing and logging context go along)

    def outcome(self) -> T:
        """The call's value, or its error raised."""
        error = self.error
        if error is not None:
            self.error = None  # (no cycle through the traceback)
            raise error
        return cast(T, self.value)

    def hand_back(
        self,
        label: str,
        callback: Callable[..., object],
        await_there: Callable[[Awaitable[object]], object],
    ) -> Any:
        """``callback`` as a function that returns at once; the caller runs it.

        An exception in it is logged and the call goes on (as the async client
        does with ``on_update``); what an async one returns is given to
        ``await_there`` (awaited on the engine).
        """

        def run(args: tuple[Any, ...]) -> None:
            try:
                outcome = callback(*args)
                if inspect.isawaitable(outcome):
                    await_there(outcome)
            except Exception:
                logger.exception("a callback of %s raised (the call goes on)", label)

        def handed(*args: Any) -> None:
            self.jobs.put(lambda: run(args))

        return handed

    def ask_back(self, callback: Callable[..., object]) -> Any:
        """``callback`` as a coroutine function that waits for the caller's answer."""

        async def handed(*args: Any) -> object:
            answer: concurrent.futures.Future[object] = concurrent.futures.Future()

            def run() -> None:
                try:
                    answer.set_result(callback(*args))
                except Exception as exc:
                    answer.set_exception(exc)

            self.jobs.put(run)
            outcome = await asyncio.wrap_future(answer)
            return await outcome if inspect.isawaitable(outcome) else outcome

        return handed


class Doorbell:
    """How calling threads hand calls to a running loop: an inbox, and one wake-up a batch.

    ``post`` (any thread) puts a call in the inbox and wakes the loop unless a
    wake-up is already on its way; on the loop, ``deliver`` gets every call
    posted meanwhile, in order. After ``close`` (on the loop), ``post``
    refuses. The eventfd is closed when the doorbell is collected, never
    before: a thread that decided to ring it may still be about to (and not
    at interpreter exit, when the engine may still run: the process ends).
    """

    def __init__(self, loop: EngineLoop, deliver: Callable[[Call[Any]], None]) -> None:
        self._loop = loop
        self._deliver = deliver
        self._inbox: collections.deque[Call[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._rung = False
        self._open = True
        self._fd = _eventfd()
        if self._fd >= 0:
            weakref.finalize(self, os.close, self._fd).atexit = False
            loop.listen(self._fd, self._answer)

    def post(self, call: Call[Any]) -> bool:
        """Hand ``call`` to the loop; ``False`` once the doorbell is closed."""
        try:
            with self._lock:
                if not self._open:
                    return False
                self._inbox.append(call)
                ring, self._rung = not self._rung, True
            if ring:  # (outside the lock: the loop, woken, takes it at once)
                self._ring()
        except BaseException:
            # Ctrl-C (or a signal handler's error) between the flag and the ring:
            # ring anyway, or every later post would wait for a ring that never comes.
            self._ring()
            raise
        return True

    def _ring(self) -> None:
        if self._fd >= 0:
            os.eventfd_write(self._fd, 1)
        else:  # (the loop closed meanwhile: the engine fails what was posted)
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._answer)

    def _answer(self) -> None:
        if self._fd >= 0:
            os.eventfd_read(self._fd)  # (before the flag: a ring after it is heard again)
        with self._lock:
            if not self._open:  # (a wake-up queued before close: what it would start, never runs)
                return
            self._rung = False
            calls = list(self._inbox)
            self._inbox.clear()
        for call in calls:
            self._deliver(call)

    def close(self) -> None:
        """Refuse later posts (on the loop, as it ends); what was posted is left to the caller."""
        with self._lock:
            self._open = False
        if self._fd >= 0:
            self._loop.unlisten()


def _eventfd() -> int:
    """A non-blocking eventfd, or -1 where there is none (or none to be had)."""
    if not hasattr(os, "eventfd"):  # (Linux only)
        return -1
    try:
        return os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    except OSError:  # (out of file descriptors, or a sandbox's refusal: the fallback)
        return -1


class _Selector(selectors.DefaultSelector):
    """A loop's selector: ``before_wait()`` before each poll for I/O, and the doorbell's
    ``answer()`` within the poll that hears it (its fd is never handed to the loop)."""

    def __init__(self, before_wait: Callable[[], None]) -> None:
        super().__init__()
        self._before_wait = before_wait
        self._bell = -1
        self._answer: Callable[[], None] = _nothing

    def listen(self, fd: int, answer: Callable[[], None]) -> None:
        """Call ``answer()`` in each poll that finds ``fd`` readable, until ``unlisten``."""
        if self._bell >= 0:  # (the loop would be handed the first fd, with no callback)
            raise RuntimeError("this loop already has a doorbell")
        self.register(fd, selectors.EVENT_READ)
        self._bell, self._answer = fd, answer

    def unlisten(self) -> None:
        """Stop listening to the doorbell's fd (nothing to do once the selector is closed)."""
        bell, self._bell, self._answer = self._bell, -1, _nothing
        if bell >= 0:
            with contextlib.suppress(KeyError):  # (closed with its loop already)
                self.unregister(bell)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._before_wait()
        ready = super().select(timeout)
        bell = self._bell
        for index, (key, _) in enumerate(ready):
            if key.fd == bell:
                del ready[index]
                self._answer()  # (what it schedules runs in this same turn of the loop)
                break
        return ready


def _nothing() -> None:
    return None


#: The most the engine's loop reads at once from a connection (asyncio's: 256 KiB).
_READ_SIZE = 64 * 1024


class _Reads(Protocol):
    max_size: int  # (what asyncio's socket transports and TLS protocols read at most at once)


class EngineLoop(asyncio.SelectorEventLoop):
    """The engine's event loop: a selector event loop with two hooks, reading 64 KiB at once.

    ``before_wait()`` is called whenever it polls for I/O: at each turn, and
    just before it sleeps (the engine tells callers there that their calls
    have finished). A ``Doorbell`` on it is answered within the poll that
    hears it (see ``_Selector``).

    asyncio reads a socket (and decrypts TLS) into a new 256 KiB bytes object,
    shrunk to what came. That is above glibc's ``mmap`` threshold (128 KiB): on
    any thread but the main one, whose heap has room for it, every read maps
    and unmaps it, and faults its pages in (CPython gh-85451). 64 KiB comes
    from the thread's own heap, and is what libuv reads at once.
    """

    def __init__(self, before_wait: Callable[[], None]) -> None:
        self._bell_selector = _Selector(before_wait)
        super().__init__(self._bell_selector)

    def listen(self, fd: int, answer: Callable[[], None]) -> None:
        """Call ``answer()`` (on the loop) in each turn that finds ``fd`` readable."""

        def answered() -> None:
            try:
                answer()
            except Exception as exc:  # (as a reader callback's: logged, the loop goes on)
                self.call_exception_handler({"message": "a doorbell failed", "exception": exc})

        self._bell_selector.listen(fd, answered)

    def unlisten(self) -> None:
        """Stop listening (see ``listen``)."""
        self._bell_selector.unlisten()

    # (asyncio's transport factories: private, so not in typeshed; the same since 3.4)

    def _make_socket_transport(self, *args: Any, **kwargs: Any) -> asyncio.Transport:
        make = getattr(super(), "_make_socket_transport")  # noqa: B009 - not in typeshed
        transport: asyncio.Transport = make(*args, **kwargs)
        cast(_Reads, transport).max_size = _READ_SIZE
        return transport

    def _make_ssl_transport(self, *args: Any, **kwargs: Any) -> asyncio.Transport:
        make = getattr(super(), "_make_ssl_transport")  # noqa: B009 - not in typeshed
        return _decrypting_less(make(*args, **kwargs))

    async def start_tls(self, *args: Any, **kwargs: Any) -> asyncio.Transport | None:
        """asyncio's, decrypting 64 KiB at a time (HTTPS through a proxy comes this way)."""
        transport = await super().start_tls(*args, **kwargs)
        return None if transport is None else _decrypting_less(transport)


def _decrypting_less(transport: asyncio.Transport) -> asyncio.Transport:
    """``transport`` (TLS), its protocol set to decrypt ``_READ_SIZE`` at a time.

    (Python 3.11+: the socket is read into the TLS protocol's own buffer, made
    once; it decrypts ``max_size`` at a time into new bytes. 3.10's reads as
    asyncio does.)
    """
    tls: object = getattr(transport, "_ssl_protocol", None)
    if hasattr(tls, "max_size"):
        cast(_Reads, tls).max_size = _READ_SIZE
    return transport


def yield_on_wake() -> None:
    """Make this thread (the engine's) wait for the CPU when woken rather than preempt.

    Linux's ``SCHED_BATCH`` policy, at the same priority: only the wake-up
    preemption is given up, so the caller that rings the doorbell goes to
    sleep before the engine thread runs, instead of both fighting for the GIL.
    Nothing is changed elsewhere, or if the thread runs under another policy
    than the default (a real-time one, say). Threads it starts (anyio's
    workers, which write downloads) inherit it.
    """
    if not hasattr(os, "SCHED_BATCH"):
        return
    with contextlib.suppress(OSError):  # (a sandbox may refuse it: then it runs as it is)
        if os.sched_getscheduler(0) == os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
