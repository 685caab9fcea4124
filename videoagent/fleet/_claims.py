"""``RedisBriefClaims``: the briefs of one batch shared by the processes that run it.

Each brief (named by its idempotency key, which is unique to its batch) is
driven by the process that claims it. A claim lasts while its process beats
(the heartbeat); a process that stopped beating loses its claims to the next
process that asks. Facts (``created:<project id>``, ``done:…``,
``failed:…``) are kept per brief, so a process taking a brief over resumes
its project instead of creating another (its create would carry the same
idempotency key anyway). If Redis loses its data, every process writes its
claims and facts again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import _scripts

if TYPE_CHECKING:
    from ._runtime import FleetRuntime

__all__ = ["RedisBriefClaims"]

_SETTLED: Final = frozenset({"done", "failed"})


class RedisBriefClaims:
    """Brief claims of a batch across the fleet (the batch runner's ``BriefClaims``)."""

    def __init__(self, runtime: FleetRuntime) -> None:
        self._rt = runtime
        self._mine: set[str] = set()
        self._facts: dict[str, str] = {}
        #: Real seconds between looks at briefs other processes hold.
        self.recheck = runtime.lease / 2

    def _keys(self) -> list[str]:
        return [self._rt.key("claim_owner"), self._rt.key("claim_facts")]

    async def claim(self, key: str) -> tuple[str, str | None]:
        """``("ours", project_id)`` once claimed; ``("taken", …)`` by a live process;
        ``("done" | "failed", project_id)`` when another process finished it."""
        result = await self._rt.run(
            _scripts.CLAIM, [*self._keys(), self._rt.key("procs")], [key, self._rt.process]
        )
        state, fact = str(result[1]), str(result[2])
        project_id = fact.partition(":")[2] or None
        if state == "ours":
            self._mine.add(key)
        return state, project_id

    async def record(self, key: str, state: str, project_id: str | None) -> None:
        """A fact about a claimed brief; ``done``/``failed`` end the claim."""
        fact = f"{state}:{project_id or ''}"
        self._facts[key] = fact
        settled = state in _SETTLED
        if settled:
            self._mine.discard(key)
        await self._rt.run(_scripts.FACT, self._keys(), [key, fact, "1" if settled else "0"])

    def members(self) -> list[str]:
        """The briefs this process holds (the heartbeat keeps their claims)."""
        return list(self._mine)

    def reassert(self) -> None:
        """Redis lost its data: write every fact this process knows again."""
        for key, fact in self._facts.items():
            settled = fact.partition(":")[0] in _SETTLED
            self._rt.enqueue(_scripts.FACT, self._keys(), [key, fact, "1" if settled else "0"])
