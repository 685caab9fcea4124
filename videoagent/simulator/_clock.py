"""Scaled time: the simulator's one notion of "now".

Every duration the contract states (phase durations, the 60 s request window,
``Retry-After``, URL expiry, the day) is in *contract seconds*. The simulator
runs them ``time_scale`` times as long in real seconds: at ``time_scale=0.01``
a 60 s window lasts 0.6 real seconds.

Three clocks, all moved forward together by :meth:`Clock.advance`:

* ``now()``: real monotonic seconds (plus advances) - what every deadline of
  the simulator is measured in;
* ``unix()``: real wall-clock unix seconds (plus advances) - what timestamps in
  bodies (``created_at``) and headers (``X-RateLimit-Reset``) start from; a
  future instant ``w`` real seconds away is written as ``unix() + w / time_scale``;
* ``virtual()``: the *contract day clock*, ``t0 + (unix() - t0) / time_scale``
  where ``t0`` is the unix time the simulator started. Daily limits reset when
  this clock passes a UTC midnight; at ``time_scale=1`` it is plain UTC.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["DAY", "Clock"]

#: One day, in contract seconds.
DAY = 86_400.0


class Clock:
    """Real, wall and virtual time of one simulator, scaled by ``time_scale``."""

    def __init__(self, time_scale: float) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = time_scale
        self._offset = 0.0
        self._t0 = time.time()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """Real monotonic seconds, including every :meth:`advance`."""
        return time.monotonic() + self._offset

    def unix(self) -> float:
        """Real unix seconds, including every :meth:`advance`."""
        return time.time() + self._offset

    def virtual(self) -> float:
        """The contract day clock (unix seconds running ``1 / time_scale`` as fast)."""
        return self._t0 + (self.unix() - self._t0) / self.time_scale

    def day(self) -> int:
        """Index of the current contract day (whole UTC days of :meth:`virtual`)."""
        return int(self.virtual() // DAY)

    def seconds_to_midnight(self) -> int:
        """Contract seconds until the current contract day ends (at least 1)."""
        v = self.virtual()
        return max(1, math.ceil((math.floor(v / DAY) + 1) * DAY - v))

    def scaled(self, contract_seconds: float) -> float:
        """Real seconds that ``contract_seconds`` last in this simulator."""
        return contract_seconds * self.time_scale

    def contract(self, real_seconds: float) -> int:
        """Whole contract seconds (rounded up) that ``real_seconds`` stand for."""
        return max(0, math.ceil(real_seconds / self.time_scale - 1e-9))

    def unix_after(self, real_seconds: float) -> float:
        """The unix timestamp, in contract units, of an instant ``real_seconds`` away."""
        return self.unix() + real_seconds / self.time_scale

    def advance(self, contract_seconds: float) -> None:
        """Move every clock forward by ``contract_seconds`` and wake the listeners."""
        if contract_seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += contract_seconds * self.time_scale
        for listener in self._listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every :meth:`advance` (the webhook scheduler's alarm)."""
        self._listeners.append(listener)
