"""Task groups whose errors come out as themselves, never as an ``ExceptionGroup``.

anyio's task groups wrap every error in an ``ExceptionGroup``, the error of
the block they guard included: ``except NotFoundError`` would never match.
The SDK's own task groups go through here instead:

- ``task_group()`` for a block that runs helpers beside an ``await``: the
  block's error, or a helper's, comes out as itself;
- ``BackgroundTasks`` for an object that runs tasks for its whole life (the
  watcher, the fleet connection): entering it starts them, closing it cancels
  them; an error raised in the user's ``async with`` block passes through
  untouched, and a task of ours that failed surfaces once, as a
  ``VideoAgentError`` naming the task (only logged when the block raised:
  the block's error goes on as itself).

An anyio task group must be left by the task that entered it. A client is
sometimes entered by one task and closed by another once the first has
ended: pytest-asyncio runs a fixture's setup and its teardown in two tasks,
so ``async with AsyncVideoAgent() as client: yield client`` in a fixture
does exactly that. ``BackgroundTasks`` then ends its tasks itself (each runs
in a cancel scope of its own) and leaves the group to the ended task. If the
task that entered is still running, closing from elsewhere is refused with
``ConfigurationError``, after the tasks are ended: its cancel scopes would
break as it goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

from ._errors import ConfigurationError, VideoAgentError

if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BackgroundTasks", "task_group"]

logger = logging.getLogger("videoagent")


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            leaves.extend(_leaves(error))  # pyright: ignore[reportUnknownArgumentType]  # nested group
        else:
            leaves.append(error)
    return leaves


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to raise for ``group``: ours (a ``VideoAgentError``) first, else the first."""
    leaves = _leaves(group)
    cancelled = anyio.get_cancelled_exc_class()
    real = [error for error in leaves if not isinstance(error, cancelled)] or leaves
    return next((error for error in real if isinstance(error, VideoAgentError)), real[0])


@contextlib.asynccontextmanager
async def task_group() -> AsyncGenerator[anyio.abc.TaskGroup, None]:
    """``anyio.create_task_group()``, raising the block's (or a task's) error as itself."""
    try:
        async with anyio.create_task_group() as group:
            yield group
    except BaseExceptionGroup as error:
        raise _sole(error) from None


class BackgroundTasks:
    """The tasks an object runs for its whole life (see the module docstring).

    Example::

        self._tasks = BackgroundTasks("the watcher")
        await self._tasks.open()
        self._tasks.start_soon(self._loop, name="videoagent watcher")
        ...
        await self._tasks.aclose()
    """

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._group: anyio.abc.TaskGroup | None = None
        self._host: asyncio.Task[Any] | None = None
        self._scopes: set[anyio.CancelScope] = set()  # one per running task
        self._idle: anyio.Event | None = None  # set when the last task ends (while closing)
        self._failure: BaseException | None = None

    async def open(self) -> None:
        """Start the task group (in the running task: see the module docstring)."""
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._host = asyncio.current_task()

    def start_soon(self, function: Callable[[], Coroutine[Any, Any, object]], *, name: str) -> None:
        """Run ``function()`` until ``aclose``, in a task named ``name``."""
        if self._group is None:
            raise RuntimeError(f"{self._owner} is not running")
        self._group.start_soon(self._run, function, {}, name=name)

    async def start(
        self, function: Callable[..., Coroutine[Any, Any, object]], *, name: str
    ) -> object:
        """Run ``function(task_status=...)`` until ``aclose``, once it says it has started
        (a task group's ``start``: what it passes to ``task_status.started()``)."""
        if self._group is None:
            raise RuntimeError(f"{self._owner} is not running")
        return await self._group.start(self._run_started, function, name=name)

    async def _run_started(
        self,
        function: Callable[..., Coroutine[Any, Any, object]],
        *,
        task_status: anyio.abc.TaskStatus[Any],
    ) -> None:
        await self._run(function, {"task_status": task_status})

    async def _run(
        self,
        function: Callable[..., Coroutine[Any, Any, object]],
        kwargs: dict[str, Any],
    ) -> None:
        """``function``, in a cancel scope of its own (see ``_close_elsewhere``)."""
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                await function(**kwargs)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                if self._failure is None:
                    self._failure = exc
                raise
            finally:
                self._scopes.discard(scope)
                if not self._scopes and self._idle is not None:
                    self._idle.set()

    async def aclose(self, *, passing: BaseException | None = None) -> None:
        """Cancel every task and wait for them; a task that failed raises once, as ours.

        ``passing``: the error leaving the owner's ``async with`` block, if any.
        It goes on as itself: a task's failure is then logged, not raised (unless
        the block's error is the cancellation that failure caused).
        """
        group, self._group = self._group, None
        if group is None:
            return
        if self._host is not None and asyncio.current_task() is not self._host:
            await self._close_elsewhere()
            return
        group.cancel_scope.cancel()
        try:
            await group.__aexit__(None, None, None)
        except BaseExceptionGroup as error:
            self._raise(_sole(error), passing)

    async def _close_elsewhere(self) -> None:
        """``aclose`` from another task than ``open``'s: end the tasks one by one."""
        for scope in list(self._scopes):
            scope.cancel()
        with anyio.CancelScope(shield=True):
            while self._scopes:
                self._idle = idle = anyio.Event()
                await idle.wait()
        assert self._host is not None
        if not self._host.done():
            raise ConfigurationError(
                f"{self._owner} was opened by a task that still runs and closed by another: "
                "close it in the task that opened it (an `async with` block in one task)"
            )
        if self._failure is not None:
            self._raise(self._failure, None)

    def _raise(self, sole: BaseException, passing: BaseException | None) -> None:
        cancelled = anyio.get_cancelled_exc_class()
        if passing is not None and not isinstance(passing, cancelled):
            logger.error(
                "a background task of %s failed (after %r)", self._owner, passing, exc_info=sole
            )
            return
        if isinstance(sole, VideoAgentError | cancelled):
            raise sole from None
        raise VideoAgentError(
            f"a background task of {self._owner} failed: {type(sole).__name__}: {sole}"
        ) from sole
