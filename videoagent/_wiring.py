"""The parts of one client, as its composition root wired them, for the layers above.

``AsyncVideoAgent`` builds a ``Wiring`` (its caller, budget, slots, ledger,
fleet share ...) and registers it for itself with ``wire``. Whoever is
given the client and must work with its parts (a ``ProjectWatcher``, the
batch runner, the integrations) asks ``wiring_of(client)``: the client
keeps no public handle to its insides, and no layer below it imports it.
"""

from __future__ import annotations

import weakref
from typing import Protocol

import attrs

from ._activation import SlotTracking
from ._ledger import ProjectLedger
from ._reading import Poller
from ._retry import Caller
from ._seams import Budget, SharedLimits, Slots

__all__ = ["Client", "Wiring", "wire", "wiring_of"]


class Client(Protocol):
    """What the watcher and the batch are given: an ``AsyncVideoAgent`` (or a copy)."""

    @property
    def time_scale(self) -> float: ...


@attrs.frozen(eq=False)
class Wiring:
    """One client's parts (shared by its ``with_options`` copies, but for ``poller``).

    Attributes:
        caller: makes API calls within the budget.
        poller: reads projects with a budget priority or a held ticket.
        budget: the account's request limiter.
        slots: the account's active-project slots.
        ledger: every project answer, and who hears of it.
        tracking: keeps polling the projects that hold a slot (the shared watcher serves).
        shared: where the limits live (in fleet mode also: which process polls
            which project, ``watch``).
        time_scale: the client's.
        in_flight: ids of projects a watcher is polling now (shared by every
            watcher of the client, so that none polls a project twice).
    """

    caller: Caller
    poller: Poller
    budget: Budget
    slots: Slots
    ledger: ProjectLedger
    tracking: SlotTracking
    shared: SharedLimits
    time_scale: float
    in_flight: set[str] = attrs.field(factory=set)


_WIRED: weakref.WeakKeyDictionary[object, Wiring] = weakref.WeakKeyDictionary()


def wire(client: object, wiring: Wiring) -> None:
    """Register ``client``'s parts (the composition root does, once per client or copy)."""
    _WIRED[client] = wiring


def wiring_of(client: object) -> Wiring:
    """The parts of ``client``; a ``TypeError`` for anything but an ``AsyncVideoAgent``."""
    try:
        return _WIRED[client]
    except (KeyError, TypeError):
        raise TypeError(f"expected an AsyncVideoAgent, got {type(client).__name__}") from None
