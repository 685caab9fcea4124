"""``RedisWatchShare``: each watched project is polled by one process of the fleet.

Every process ``want``s the projects its watchers watch; the heartbeat claims
them in Redis (a hash names each project's owner; a project whose owner
stopped beating goes to the next process that asks). The owner polls and
publishes each answer that changed the project (status or ``updated_at``)
on the account's ``project`` channel; the other processes feed it to their
transport as if they had polled. A ``notify`` (a webhook arrived at any
replica) is published on the ``notify`` channel and reaches the watchers of
every process; only the owner polls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

from videoagent._converter import structure_project
from videoagent._errors import VideoAgentError
from videoagent._models import Project

from . import _scripts

if TYPE_CHECKING:
    from ._link import FleetLink

__all__ = ["RedisWatchShare"]

logger: Final = logging.getLogger("videoagent.fleet")


class RedisWatchShare:
    """Who polls which project (a ``WatchShare``); see the module docstring."""

    def __init__(self, runtime: FleetLink) -> None:
        self._rt = runtime
        self._wants: dict[str, int] = {}
        self._owned: set[str] = set()
        self._decided: set[str] = set()
        self._seen: dict[str, tuple[str, datetime]] = {}  # newest (status, updated_at) shared
        self._on_owned: list[Callable[[str], object]] = []
        self._on_notify: list[Callable[[str, str | None], object]] = []

    # -- what the watcher asks ---------------------------------------------------------

    def want(self, project_id: str) -> None:
        """A watcher of this process watches the project."""
        count = self._wants.get(project_id, 0)
        self._wants[project_id] = count + 1
        if count == 0:
            self._rt.beat_soon()

    def unwant(self, project_id: str) -> None:
        """A watcher of this process stopped watching it."""
        count = self._wants.get(project_id, 0) - 1
        if count > 0:
            self._wants[project_id] = count
            return
        self._wants.pop(project_id, None)
        self._decided.discard(project_id)
        self._seen.pop(project_id, None)
        if project_id in self._owned:
            self._owned.discard(project_id)
            self._rt.enqueue(
                _scripts.UNWATCH,
                [self._rt.key("watch_owner")],
                [project_id, self._rt.process],
                lazy=True,
            )

    def owns(self, project_id: str) -> bool | None:
        """True: this process polls it; False: another does; None: not decided yet."""
        if project_id in self._owned:
            return True
        return False if project_id in self._decided else None

    def relay(self, project_id: str, status: str | None) -> None:
        """A webhook arrived here: every process's watchers hear of it."""
        message = json.dumps({"from": self._rt.process, "id": project_id, "status": status})
        self._rt.enqueue(_scripts.PUBLISH, [], [self._rt.key("notify"), message])

    def add_watcher(
        self, on_owned: Callable[[str], object], on_notify: Callable[[str, str | None], object]
    ) -> None:
        """A watcher's callbacks: ownership gained, notify relayed from another process."""
        self._on_owned.append(on_owned)
        self._on_notify.append(on_notify)

    def remove_watcher(self, on_owned: Callable[[str], object]) -> None:
        """The watcher closed."""
        for index, callback in enumerate(self._on_owned):
            if callback == on_owned:
                del self._on_owned[index]
                del self._on_notify[index]
                return

    # -- the runtime's side ------------------------------------------------------------

    def wanted(self) -> list[str]:
        """The projects to claim (or keep) at the next heartbeat."""
        return list(self._wants)

    def decided(self, project_ids: list[str], owned: list[int]) -> None:
        """The heartbeat's answer: which of ``project_ids`` this process owns now."""
        for project_id, flag in zip(project_ids, owned, strict=False):
            if project_id not in self._wants:
                continue
            self._decided.add(project_id)
            if flag:
                if project_id not in self._owned:
                    self._owned.add(project_id)
                    for callback in list(self._on_owned):
                        callback(project_id)
            else:
                self._owned.discard(project_id)

    def share(self, project: Project) -> None:
        """A fresh answer about a watched project: publish it if it changed anything."""
        if project.id not in self._wants:
            return
        mark = (project.raw_status, project.updated_at)
        if self._seen.get(project.id) == mark:
            return
        self._seen[project.id] = mark
        message = json.dumps({"from": self._rt.process, "project": dict(project.raw)})
        self._rt.enqueue(_scripts.PUBLISH, [], [self._rt.key("project"), message], lazy=True)

    def received(self, data: str) -> None:
        """An answer another process shared."""
        try:
            message = json.loads(data)
            if message.get("from") == self._rt.process:
                return
            project = structure_project(message["project"])
        except (ValueError, KeyError, TypeError, AttributeError, VideoAgentError) as exc:
            logger.warning("ignored a malformed shared project: %s", exc)
            return
        if project.id not in self._wants:
            return
        mark = (project.raw_status, project.updated_at)
        if self._seen.get(project.id) == mark:
            return
        self._seen[project.id] = mark  # before delivering: it is not published again
        self._rt.deliver(project)

    def relayed(self, data: str) -> None:
        """A notify relayed by another process."""
        try:
            message = json.loads(data)
            if message.get("from") == self._rt.process:
                return
            project_id = str(message["id"])
            status = message.get("status")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignored a malformed relayed notify: %s", exc)
            return
        for callback in list(self._on_notify):
            callback(project_id, None if status is None else str(status))
