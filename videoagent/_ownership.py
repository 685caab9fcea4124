"""Fleet mode: which process of the account polls each watched project.

Several processes may watch one project. Each watched project is ``want``ed
from the client's ``WatchShare``; a due project is polled only by the
process that owns its lease. The others re-plan it a whole interval later
(the owner shares each fresh answer, which reaches them through their
ledger as if they had polled; if the owner dies, one of them takes the lease
over and polls at its next due time). While ownership is undecided (within
a Redis round trip) the poll waits, and goes when it is decided ours.
``notify`` is relayed to every process, so a webhook received by any
replica reaches the owner.
"""

from __future__ import annotations

from collections.abc import Callable

from ._seams import WatchShare

__all__ = ["Ownership"]


class Ownership:
    """One watcher's part in one client's ``WatchShare``.

    Args:
        share: the client's (fleet mode).
        on_owned: a project whose poll was deferred is ours now: poll it.
        on_notify: a notify relayed from another process.
    """

    def __init__(
        self,
        share: WatchShare,
        *,
        on_owned: Callable[[str], object],
        on_notify: Callable[[str, str | None], object],
    ) -> None:
        self._share = share
        self._on_owned = on_owned
        share.add_watcher(on_owned, on_notify)

    def want(self, project_id: str) -> None:
        """This watcher watches the project (its lease is asked for)."""
        self._share.want(project_id)

    def unwant(self, project_id: str) -> None:
        """This watcher forgot the project."""
        self._share.unwant(project_id)

    def relay(self, project_id: str, status: str | None) -> None:
        """A webhook arrived here: the other processes' watchers hear of it."""
        self._share.relay(project_id, status)

    def owns(self, project_id: str) -> bool | None:
        """Whether this process polls the project: True; another does: False (its
        notifies and message fetches are that process's to do, and the watcher looks
        again a whole interval on); not decided yet: None (``on_owned`` follows)."""
        return self._share.owns(project_id)

    def close(self) -> None:
        """The watcher closed."""
        self._share.remove_watcher(self._on_owned)
