"""Fault injection: seeded, per-request draws of the ways a real API misbehaves."""

from __future__ import annotations

import random
from typing import Literal

import attrs

__all__ = ["FAULT_KINDS", "FaultInjector", "FaultKind", "Faults"]

FaultKind = Literal["error_500", "error_503", "drop", "slow", "truncate", "non_json"]
#: Draw order of the fault kinds (one uniform draw per request picks at most one).
FAULT_KINDS: tuple[FaultKind, ...] = (
    "error_500",
    "error_503",
    "drop",
    "slow",
    "truncate",
    "non_json",
)


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within 0..1, got {value!r}")


@attrs.frozen(kw_only=True)
class Faults:
    """Probabilities, per ``/v1`` request, of each injected fault (their sum <= 1).

    Faults come after the request limit: a faulted request still counts.

    Attributes:
        error_500: answer 500 ``internal_error``; the request has no effect.
        error_503: answer 503 ``service_unavailable`` with ``Retry-After``
            (``retry_after`` contract seconds); the request has no effect.
        drop: the request takes effect, then the connection closes with no answer.
        slow: the request takes effect; its answer leaves ``slow_seconds``
            contract seconds later (past a client's timeout).
        truncate: the request takes effect; the body is cut in half under a
            ``Content-Length`` of the whole.
        non_json: the request takes effect; the body is an HTML page, not JSON.
        retry_after: the ``Retry-After`` of injected 503s, contract seconds.
        slow_seconds: the delay of slow answers, contract seconds.
        only: inject only into requests whose ``"METHOD /v1/path"`` starts
            with this (e.g. ``"POST /v1/projects"``); None: every request.
        count: inject at most this many faults, then none; None: no cap.
            ``Faults(drop=1.0, only="POST /v1/projects", count=1)`` drops
            exactly the next create.
    """

    error_500: float = attrs.field(default=0.0, validator=_rate)
    error_503: float = attrs.field(default=0.0, validator=_rate)
    drop: float = attrs.field(default=0.0, validator=_rate)
    slow: float = attrs.field(default=0.0, validator=_rate)
    truncate: float = attrs.field(default=0.0, validator=_rate)
    non_json: float = attrs.field(default=0.0, validator=_rate)
    retry_after: int = attrs.field(default=2, converter=int, validator=attrs.validators.ge(1))
    slow_seconds: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    only: str | None = None
    count: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )

    def __attrs_post_init__(self) -> None:
        if sum(getattr(self, kind) for kind in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError("the fault rates must add up to at most 1")

    @property
    def any(self) -> bool:
        """Whether any fault can happen."""
        return self.count != 0 and any(getattr(self, kind) for kind in FAULT_KINDS)


class FaultInjector:
    """Draws, with its own seeded generator, the fault (if any) of each request."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(None if seed is None else f"faults/{seed}")
        self._faults = Faults()
        self._armed = False
        self._left: int | None = None
        #: faults injected so far
        self.injected = 0

    @property
    def faults(self) -> Faults:
        """The rates in force."""
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._faults = faults
        self._armed = faults.any
        self._left = faults.count

    def draw(self, method: str, path: str) -> FaultKind | None:
        """The fault of the next request (``method`` and ``path``), or None."""
        if not self._armed:
            return None
        faults = self._faults
        if faults.only is not None and not f"{method} {path}".startswith(faults.only):
            return None
        point = self._random.random()
        for kind in FAULT_KINDS:
            point -= getattr(faults, kind)
            if point < 0:
                self.injected += 1
                if self._left is not None:
                    self._left -= 1
                    self._armed = self._left > 0
                return kind
        return None
