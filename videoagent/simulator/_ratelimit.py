"""The request limit: an exact sliding log of arrival times per account."""

from __future__ import annotations

import contextlib
from collections import deque

__all__ = ["SlidingWindow", "WindowAnswer"]


class WindowAnswer:
    """What one arrival got: admitted or not, and the headers' figures (real seconds)."""

    __slots__ = ("admitted", "remaining", "reset_in")

    def __init__(self, admitted: bool, remaining: int, reset_in: float) -> None:
        self.admitted = admitted
        #: requests still allowed in the window after this one
        self.remaining = remaining
        #: real seconds until ``remaining`` next grows (the oldest arrival leaves)
        self.reset_in = reset_in


class SlidingWindow:
    """At most ``limit`` counted arrivals in any window of ``window`` real seconds.

    Every admitted arrival is logged at once (so concurrent requests see it);
    refused ones are not, and :meth:`retract` takes one back out when its
    answer turns out to be a 429 after all. ``peak`` is the most counted
    arrivals ever seen inside one window (updated by :meth:`settle`).
    """

    __slots__ = ("_log", "limit", "peak", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.peak = 0
        self._log: deque[float] = deque()

    def _expire(self, now: float) -> None:
        log, horizon = self._log, now - self.window
        while log and log[0] <= horizon:
            log.popleft()

    def arrive(self, now: float) -> WindowAnswer:
        """Count an arrival at ``now`` if a slot is free."""
        self._expire(now)
        log = self._log
        if len(log) >= self.limit:
            return WindowAnswer(False, 0, log[0] + self.window - now)
        log.append(now)
        return WindowAnswer(True, self.limit - len(log), log[0] + self.window - now)

    def retract(self, at: float) -> None:
        """Un-count the arrival logged at ``at`` (it was answered 429)."""
        with contextlib.suppress(ValueError):
            self._log.remove(at)

    def settle(self, at: float) -> None:
        """The arrival at ``at`` stays counted: update ``peak`` with its window."""
        horizon = at - self.window
        inside = sum(1 for t in self._log if horizon < t <= at)
        self.peak = max(self.peak, inside)

    def peek(self, now: float) -> WindowAnswer:
        """The window's figures at ``now`` without counting anything."""
        self._expire(now)
        log = self._log
        reset_in = log[0] + self.window - now if log else 0.0
        return WindowAnswer(len(log) < self.limit, self.limit - len(log), reset_in)
