"""What the fleet's parts need of each other, as narrow interfaces (no import circle).

``RedisBudget``, ``RedisSlots`` and ``RedisWatchShare`` speak to Redis through
their client's connection (``FleetRuntime``), which they see only as a
``FleetLink``; the runtime reads its settings from a ``FleetSettings``
(``RedisBackend`` is one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from videoagent._models import Project

__all__ = ["Args", "FleetLink", "FleetSettings", "OnResult"]

#: Called with a queued write's result.
OnResult = Callable[[list[Any]], object]
#: A write's arguments, or a function of its age (us) when sent that gives them.
Args = Sequence[Any] | Callable[[int], Sequence[Any]]


class FleetLink(Protocol):
    """One client's connection to the fleet, as its parts use it."""

    @property
    def process(self) -> str:
        """This process's id in the fleet."""
        ...

    @property
    def lease(self) -> float:
        """Real seconds after which a silent process counts as gone."""
        ...

    def key(self, name: str) -> str:
        """The Redis key (or channel) ``name`` of this account."""
        ...

    def next_id(self) -> str:
        """A member id unique in the fleet."""
        ...

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> list[Any]:
        """Run a script now (after the queued writes), waiting while Redis is away."""
        ...

    def enqueue(
        self,
        script: str,
        keys: Sequence[str],
        args: Args,
        on_result: OnResult | None = None,
        *,
        lazy: bool = False,
    ) -> None:
        """Queue a write (sent in order, never dropped)."""
        ...

    def beat_soon(self) -> None:
        """Run the heartbeat now."""
        ...

    def deliver(self, project: Project) -> None:
        """A project answer another process shared, as if this process had polled it."""
        ...


class FleetSettings(Protocol):
    """How a fleet connection is made (``RedisBackend``'s fields)."""

    @property
    def url(self) -> str: ...
    @property
    def account(self) -> str | None: ...
    @property
    def prefix(self) -> str: ...
    @property
    def lease(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def socket_timeout(self) -> float: ...
    @property
    def polling(self) -> Literal["watchers", "queue"]: ...
    @property
    def slot_wait(self) -> float | None: ...
