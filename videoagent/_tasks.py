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
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

from ._errors import VideoAgentError

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

    @property
    def group(self) -> anyio.abc.TaskGroup:
        """The running task group (for code that starts tasks in it)."""
        if self._group is None:
            raise RuntimeError(f"{self._owner} is not running")
        return self._group

    async def open(self) -> None:
        """Start the task group."""
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group

    def start_soon(self, function: Callable[[], Coroutine[Any, Any, object]], *, name: str) -> None:
        """Run ``function()`` until ``aclose``."""
        self.group.start_soon(function, name=name)

    async def aclose(self, *, passing: BaseException | None = None) -> None:
        """Cancel every task and wait for them; a task that failed raises once, as ours.

        ``passing``: the error leaving the owner's ``async with`` block, if any.
        It goes on as itself: a task's failure is then logged, not raised (unless
        the block's error is the cancellation that failure caused).
        """
        group, self._group = self._group, None
        if group is None:
            return
        group.cancel_scope.cancel()
        try:
            await group.__aexit__(None, None, None)
        except BaseExceptionGroup as error:
            sole = _sole(error)
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
