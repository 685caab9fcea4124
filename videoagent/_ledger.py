"""The project ledger: every project answer the client parses, in order, to whom it may concern.

Answers can arrive out of order: a poll sent before a message re-activated
a project may be read after the message's answer. ``ProjectLedger.observe``
keeps the newest ``updated_at`` of each project it has seen and passes on
only answers that are not overtaken: to the account's
active-project slots first (a slot frees before anyone hears the project
finished), then to its subscribers in the order they subscribed: the
watchers, the fleet and the app's feeds.

A ``Topic`` is a typed subscription list (as stamina's instrumentation
hooks are): ``subscribe(callback)``, ``unsubscribe(callback)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final, Generic, TypeVar

from ._arguments import is_id
from ._errors import APIResponseError
from ._models import CreditsWarning, Project
from ._seams import Slots

__all__ = ["ProjectLedger", "Topic"]

T = TypeVar("T")

#: Projects whose newest ``updated_at`` is remembered (to drop overtaken answers).
_TRACKED_PROJECTS: Final = 50_000


class Topic(Generic[T]):
    """Callbacks that each receive every value published, in subscription order.

    Example::

        ledger.projects.subscribe(print)
        ...
        ledger.projects.unsubscribe(print)
    """

    __slots__ = ("callbacks",)

    def __init__(self) -> None:
        #: The subscribers, in order (a new tuple at each change: cheap to read).
        self.callbacks: tuple[Callable[[T], object], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def subscribe(self, callback: Callable[[T], object]) -> None:
        """Call ``callback(value)`` for each value published from now on."""
        self.callbacks = (*self.callbacks, callback)

    def unsubscribe(self, callback: Callable[[T], object]) -> None:
        """Stop calling ``callback`` (if it was subscribed: once per subscription)."""
        callbacks = list(self.callbacks)
        if callback in callbacks:
            callbacks.remove(callback)
            self.callbacks = tuple(callbacks)

    def publish(self, value: T) -> None:
        """Hand ``value`` to every subscriber (an exception in one propagates)."""
        for callback in self.callbacks:
            callback(value)

    def clear(self) -> None:
        """End every subscription."""
        self.callbacks = ()


class ProjectLedger:
    """The newest state of each project the client has seen, and who hears of it.

    The account's active-project ``slots`` hear of each answer first (a slot
    frees before anyone hears the project finished), then the subscribers.

    Attributes:
        projects: every project answer that is not overtaken.
        credits: every ``credits_warning`` an answer carries.
        closed: published once, with the ledger, when the client closes (subscribers
            let go of it).
    """

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._updated: dict[str, datetime] = {}  # project id -> newest updated_at seen
        self.projects: Topic[Project] = Topic()
        self.credits: Topic[CreditsWarning] = Topic()
        self.closed: Topic[ProjectLedger] = Topic()

    def overtaken(self, project: Project) -> bool:
        """Whether a newer answer about ``project`` has been observed than this one."""
        seen = self._updated.get(project.id)
        return seen is not None and project.updated_at < seen

    def accept(self, project: Project) -> Project:
        """A project an answer names, after our own id rules, observed; else
        ``APIResponseError`` (such a project could not be asked about again, and
        holds no active slot)."""
        if project.id not in self._updated and not is_id(project.id, "prj"):  # (seen: checked)
            raise APIResponseError(
                f"the answer names a project {project.id[:80]!r}, not an id of the form prj_...",
                request_id=project.request_id,
            )
        self.observe(project)
        return project

    def observe(self, project: Project) -> bool:
        """A project answer: passed on unless overtaken (then False).

        Remembered for the last ``_TRACKED_PROJECTS`` projects seen.
        """
        updated, pid, stamp = self._updated, project.id, project.updated_at
        seen = updated.pop(pid, None)
        if seen is not None and stamp < seen:
            updated[pid] = seen
            return False
        updated[pid] = stamp
        if len(updated) > _TRACKED_PROJECTS:
            del updated[next(iter(updated))]  # the least recently seen
        self._slots.observe(pid, active=project.status.is_active)
        for callback in self.projects.callbacks:  # (publish, one call less: every poll)
            callback(project)
        return True

    def close(self) -> None:
        """The client closed: say so, then end every subscription."""
        self.closed.publish(self)
        self.projects.clear()
        self.credits.clear()
        self.closed.clear()
