"""The engine of the blocking client: one event loop on a daemon thread, and calls into it.

``VideoAgent`` drives an ``AsyncVideoAgent``: every blocking call is a task
on the engine's loop running the async method itself, so limits, retries,
slots and the watcher are the async client's own code::

    calling threads (any number)              engine thread (daemon, its own loop)
    call(...) ------- doorbell ----------->   task: await method(*args, **kwargs)
      waits on the call's queue     <------   done (a value, or the error itself)
      runs on_update(...) itself    <------   callbacks the task hands back (``notify``,
      and answers reply(...)                  ``ask``), so they may block and call the
                                              client: they never run on the engine's loop

- **Lazily started.** The async client is made in the caller's thread (a bad
  option raises there and then) and entered on the loop at the first call (or
  ``with``): a client made at import time in a process that forks before
  using it (Celery's prefork pool, gunicorn with ``--preload``) has no thread
  to lose.
- **One hand-off per call, and a light one** (``_handoff``). Not anyio's
  blocking portal: ``BlockingPortal.start_task_soon`` waits for the loop
  twice (to start the task, then for its result) through
  ``concurrent.futures``, and ``start_blocking_portal()``'s thread is no
  daemon (a forgotten client would keep the interpreter from exiting). Here
  the caller rings the loop's doorbell once and sleeps on a
  ``queue.SimpleQueue`` that the engine fills as it next waits for I/O.
  ``benchmarks/blocking_throughput.py`` measures both hand-offs, and the
  context switches and CPU time a request costs. Each call's task runs in a
  copy of its caller's context (``contextvars``: tracing and logging context
  go along). The tasks are the engine's: at ``close()`` the async client
  closes first (its waits end with ``WatchStoppedError``), then every task
  still running is cancelled and awaited, then the loop ends and the thread
  is joined; a call that never ran raises ``ConfigurationError``.
- **Never on a running loop.** A blocking call made where an event loop runs
  (an async app, a test's loop, a callback on the engine's own thread) raises
  ``ConfigurationError`` at once, naming ``AsyncVideoAgent``: it would stall
  that loop, or wait forever for itself. The one exception is a Jupyter
  kernel's main thread, whose loop runs the notebook's cells: a cell blocks
  there as with any blocking library.
- **Fork.** A forked child (``os.register_at_fork``) forgets the parent's
  engine without touching it and starts its own at its first call, from the
  same arguments. The parent's loop, client and sockets stay in the child's
  memory as they are (``_ABANDONED`` holds them): closing or freeing them
  there would warn, and would unregister the parent's sockets from the epoll
  set that parent and child share, deafening the parent. (CPython 3.10 and
  3.11 keep them alive in the child even without it: what the parent's
  other threads referenced is never freed there.)
- **Collected or forgotten.** ``weakref.finalize`` closes the engine when its
  last holder is collected, or at interpreter exit (bounded by
  ``_EXIT_TIMEOUT``), so the session is closed and no warning is left.
- **Ctrl-C.** Any ``BaseException`` while a caller waits (``KeyboardInterrupt``)
  cancels the call's task, then propagates: ``wait`` stops at once.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

import anyio

from ._errors import ConfigurationError
from ._handoff import Call, Doorbell, EngineLoop, yield_on_wake

__all__ = ["Engine", "abandon"]

T = TypeVar("T")
R = TypeVar("R", bound=AbstractAsyncContextManager[Any])

#: Real seconds the interpreter's exit waits for a forgotten client to close.
_EXIT_TIMEOUT = 10.0

#: What a forked child inherits of its parent's running engines: kept, never
#: closed (see the module's docstring).
_ABANDONED: list[object] = []


def abandon(inherited: object) -> None:
    """Keep ``inherited`` (of the parent's engine, in a forked child) as it is: never freed.

    (An async generator the parent's loop ran, freed here, would have that loop
    close it: a write to the wake-up socket the child shares with the parent.)
    """
    _ABANDONED.append(inherited)


#: Every engine of this process, for the fork hook.
_RUNNERS: weakref.WeakSet[_Runner[Any]] = weakref.WeakSet()


def _forget_parents() -> None:
    """In a forked child: every engine forgets its parent's loop (see ``_Runner.forget``)."""
    for runner in list(_RUNNERS):
        runner.forget()


if hasattr(os, "register_at_fork"):  # (not on Windows: no fork there)
    os.register_at_fork(after_in_child=_forget_parents)


def _in_notebook() -> bool:
    """Whether this is a Jupyter kernel's main thread (its loop runs the cells)."""
    return threading.current_thread() is threading.main_thread() and "ipykernel" in sys.modules


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class _Runner(Generic[R]):
    """The state an ``Engine`` shares with its thread (never the ``Engine`` itself, so
    that collecting the ``Engine`` can close this)."""

    def __init__(self, make: Callable[[], R]) -> None:
        self._make = make
        self._resource: R | None = make()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._doorbell: Doorbell | None = None
        self._calls: set[Call[Any]] = set()  # submitted, not finished
        self._finished: collections.deque[Call[Any]] = collections.deque()  # callers not told yet
        self._closed = False
        self._launched = False
        self._failure: BaseException | None = None
        self.generation = 0
        _RUNNERS.add(self)

    @property
    def resource(self) -> R:
        """The async resource of this process (made again in a forked child)."""
        resource = self._resource
        if resource is None:
            with self._lock:
                if self._resource is None:
                    self._resource = self._make()
                resource = self._resource
        return resource

    @property
    def closed(self) -> bool:
        """Whether calls are refused from now on."""
        return self._closed

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> asyncio.AbstractEventLoop:
        """The running loop, started on its thread (and the resource entered) if need be."""
        loop = self._loop
        if loop is not None and not self._closed:
            return loop
        with self._lock:
            if self._closed:
                raise ConfigurationError("the client is closed")
            if self._loop is None:
                self._launch(self.resource)
            assert self._loop is not None
            return self._loop

    def _launch(self, resource: R) -> None:
        self._launched = True
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run, args=(resource, ready), name="videoagent-engine", daemon=True
        )
        thread.start()
        self._thread = thread
        try:
            ready.result()
        except BaseException:
            self._closed = True  # (Ctrl-C while entering: the thread ends once entered)
            if ready.done():
                thread.join()
            raise

    def _run(self, resource: R, ready: concurrent.futures.Future[None]) -> None:
        """The thread: the loop until ``close``; then every call still waiting fails."""
        try:
            anyio.run(
                self._serve,
                resource,
                ready,
                backend="asyncio",
                backend_options={"loop_factory": self._new_loop},
            )
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:  # closing the resource failed: close() raises it
                self._failure = exc
        finally:
            loop = self._loop
            self._closed = True
            self._loop = self._wake = self._thread_id = self._doorbell = None
            self._tell_finished()
            for call in list(self._calls):  # submitted as the loop ended: never ran
                call.error = ConfigurationError("the client was closed before this call ran")
                call.jobs.put(None)
            self._calls.clear()
            _join_workers(loop)

    def _new_loop(self) -> EngineLoop:
        return EngineLoop(before_wait=self._tell_finished)

    def _tell_finished(self) -> None:
        """Wake the callers of the calls finished so far (as the loop is about to wait)."""
        finished = self._finished
        while finished:
            finished.popleft().jobs.put(None)

    async def _serve(self, resource: R, ready: concurrent.futures.Future[None]) -> None:
        """Enter the resource, serve until woken, exit it; then end the calls still running."""
        self._thread_id = threading.get_ident()
        yield_on_wake()
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        assert isinstance(loop, EngineLoop)  # (made by _new_loop)
        doorbell = Doorbell(loop, self._spawn)
        try:
            async with resource:
                self._wake, self._doorbell = wake, doorbell
                self._loop = loop
                ready.set_result(None)
                if not self._closed:  # (closed while starting: nobody can wake it)
                    await wake.wait()
        finally:
            doorbell.close()  # (what it holds never ran: _run fails those calls)
            tasks = [call.task for call in list(self._calls) if call.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self, timeout: float | None = None) -> None:
        """End the loop (the resource exits first) and join the thread; idempotent.

        A failure of the resource's exit is raised here.
        """
        with self._lock:
            self._closed = True
            loop, thread, wake = self._loop, self._thread, self._wake
        if loop is None or thread is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # (it has just ended)
            loop.call_soon_threadsafe(wake.set)
        if threading.get_ident() == self._thread_id:
            return  # (from a callback on the loop: it ends once the callback returns)
        thread.join(timeout)
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def forget(self) -> None:
        """After ``fork()``, in the child: drop the parent's loop without touching it."""
        if self._launched:
            abandon((self._thread, self._loop, self._doorbell, self._resource, self._calls))
            self._resource = None  # made again, from the same arguments, when first needed
            self._launched = False
        self._lock = threading.Lock()  # (a lock held by a thread that is gone stays held)
        self._thread = self._thread_id = self._loop = self._wake = self._doorbell = None
        self._calls = set()
        self._finished = collections.deque()
        self.generation += 1

    # -- calls -------------------------------------------------------------------------

    def check_caller(self, label: str) -> None:
        """Raise ``ConfigurationError`` if this thread runs an event loop (see the module)."""
        if threading.get_ident() == self._thread_id:
            raise ConfigurationError(
                f"{label} was called on the blocking client's own event loop thread "
                "(from a callback such as on_credits_warning): it would wait for itself "
                "forever; return from the callback first, or hand the work to another thread"
            )
        # (asyncio's own no-raise check: a raised RuntimeError costs more, on every call)
        if asyncio.events._get_running_loop() is None:  # pyright: ignore[reportPrivateUsage]  # public in asyncio.events.__all__
            return
        if not _in_notebook():
            raise ConfigurationError(
                f"{label} blocks, and this thread runs an event loop: the call would stall "
                "every task of that loop (and hang if what it calls runs there); in async "
                "code use AsyncVideoAgent and await it"
            )

    def run(self, call: Call[T]) -> T:
        """Run ``call`` as a task on the loop; wait for it here, running what it hands back."""
        loop = self.start()
        doorbell = self._doorbell
        self._calls.add(call)
        try:
            posted = doorbell is not None and doorbell.post(call)
            while posted and (job := call.jobs.get()) is not None:
                job()
        except BaseException:  # (Ctrl-C) the task is cancelled, on the loop
            with contextlib.suppress(RuntimeError):  # (the loop has ended: nothing runs)
                loop.call_soon_threadsafe(self._give_up, call)
            raise
        if not posted:  # the loop ended meanwhile
            self._calls.discard(call)
            raise ConfigurationError("the client is closed")
        return call.outcome()

    def _spawn(self, call: Call[Any]) -> None:
        loop = self._loop
        if call.given_up or loop is None:
            return
        try:
            call.task = call.context.run(loop.create_task, self._drive(call))
        except Exception as exc:  # (not seen: the call fails, the loop and later calls go on)
            call.error = exc
            self._calls.discard(call)
            self._finished.append(call)

    async def _drive(self, call: Call[Any]) -> None:
        try:
            call.value = await call.func(*call.args, **call.kwargs)
        except asyncio.CancelledError:
            call.error = _closed_during()
        except GeneratorExit:  # the task is destroyed with its loop: it must end, now
            call.error = _closed_during()
            raise
        except BaseException as exc:  # the caller's, as it is
            call.error = exc
        finally:
            self._calls.discard(call)
            self._finished.append(call)

    def _give_up(self, call: Call[Any]) -> None:
        call.given_up = True
        if call.task is not None:
            call.task.cancel()
        self._calls.discard(call)


def _closed_during() -> ConfigurationError:
    return ConfigurationError("the client was closed during this call")


def _join_workers(loop: asyncio.AbstractEventLoop | None) -> None:
    """Join the worker threads ``anyio.to_thread`` started for ``loop`` (downloads write
    through them): told to stop as its run ends, they may still be alive when it has.

    (anyio's workers carry their loop as ``loop``; were that to change, they would
    just end on their own a moment later.)
    """
    if loop is None:  # (the loop never ran: it has no workers, and every thread lacks one)
        return
    for thread in threading.enumerate():
        if getattr(thread, "loop", None) is loop and thread is not threading.current_thread():
            thread.join()


class Engine(Generic[R]):
    """An async resource (an ``AsyncVideoAgent``) served on an event loop of its own.

    Every holder of one client (the ``VideoAgent``, its ``with_options``
    copies, its resources, its iterators) holds this; when the last is
    collected the loop closes (``weakref.finalize``), and at interpreter exit.
    """

    def __init__(self, make: Callable[[], R]) -> None:
        self._runner = _Runner(make)
        weakref.finalize(self, self._runner.close, _EXIT_TIMEOUT)

    @property
    def resource(self) -> R:
        """The async resource (made in the caller's thread; entered on the loop when started)."""
        return self._runner.resource

    @property
    def generation(self) -> int:
        """Forks this engine has been carried through (0 in the process that made it)."""
        return self._runner.generation

    @property
    def closed(self) -> bool:
        """Whether the engine is closed (or failed to start): calls raise ``ConfigurationError``."""
        return self._runner.closed

    def start(self, label: str) -> None:
        """Start the loop and enter the resource now (else at the first call)."""
        self._runner.check_caller(label)
        self._runner.start()

    def close(self) -> None:
        """Exit the resource, end the loop and join its thread (idempotent)."""
        self._runner.close()

    def call(
        self,
        label: str,
        func: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        notify: Collection[str] = (),
        ask: Collection[str] = (),
    ) -> T:
        """``await func(*args, **kwargs)`` on the loop, from this thread.

        The keyword arguments named in ``notify`` (called, not waited for) and
        ``ask`` (awaited for their answer) are callbacks: this thread runs them
        while it waits. ``label`` names the call in errors.
        """
        runner = self._runner
        runner.check_caller(label)
        call = Call(func, args, kwargs)
        if notify or ask:
            handed = dict(kwargs)
            for name in notify:
                if handed.get(name) is not None:
                    handed[name] = call.hand_back(
                        label,
                        handed[name],
                        lambda outcome: self.call(label, _awaited, (outcome,), {}),
                    )
            for name in ask:
                if callable(handed.get(name)):
                    handed[name] = call.ask_back(handed[name])
            call.kwargs = handed
        return runner.run(call)
