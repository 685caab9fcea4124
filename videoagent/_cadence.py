"""When a watched project is polled next, and which parked poll goes first.

Pure functions of the ``PollPolicy``, a project's status and the time: the
``ProjectWatcher`` (see its module for the overview) asks them and keeps the
state. Times are monotonic seconds; ``time_scale`` turns contract seconds into
real ones (as everywhere in the client).
"""

from __future__ import annotations

import math
import sys

from ._config import PollPolicy
from ._models import ProjectStatus

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover - Python 3.10
    from typing_extensions import assert_never

__all__ = [
    "BONUS",
    "GENERATING_TYPICAL_MIN",
    "HOOKED_STRETCH",
    "INF",
    "fairness_key",
    "interval",
    "retry_delay",
    "routine_delay",
]

INF = math.inf
#: Contract seconds a parked poll is moved ahead, by status: projects close to
#: done go first (their end frees an active slot). Capped, so none starves.
BONUS = {
    ProjectStatus.RENDERING: 20.0,
    ProjectStatus.GENERATING: 10.0,
    ProjectStatus.RUNNING: 5.0,
}
#: Generating rarely ends sooner than this (contract: 2-8 min): until then
#: the watcher polls at the slow end of the generating range.
GENERATING_TYPICAL_MIN = 120.0
#: A project whose changes arrive by webhook is still polled (webhooks are
#: delivered once, so one may be lost), at this many times its status interval.
HOOKED_STRETCH = 2.0


def interval(
    policy: PollPolicy,
    status: ProjectStatus | None,
    *,
    errors: int,
    since: float,
    now: float,
    time_scale: float,
) -> float:
    """Contract seconds until the next poll of a project in ``status`` (``INF``: dormant).

    ``errors`` counts the failed polls in a row; ``since`` is when the status
    was first seen (the generating interval shrinks towards its low end as
    generation nears its typical length).
    """
    if status is None:  # never seen: at once, or after a failed first poll a while
        return policy.unknown if errors else 0.0
    match status:
        case ProjectStatus.QUEUED:
            return policy.queued
        case ProjectStatus.RUNNING:
            return policy.running
        case ProjectStatus.GENERATING:
            low, high = policy.generating
            elapsed = (now - since) / time_scale
            return max(low, min(high, GENERATING_TYPICAL_MIN - elapsed))
        case ProjectStatus.RENDERING:
            return policy.rendering
        case ProjectStatus.UNKNOWN:
            return policy.unknown
        case ProjectStatus.IDLE | ProjectStatus.FAILED | ProjectStatus.CANCELLED:
            return INF
        case _:
            assert_never(status)


def routine_delay(
    policy: PollPolicy,
    status: ProjectStatus | None,
    *,
    errors: int,
    since: float,
    now: float,
    time_scale: float,
    hooked: bool,
) -> float:
    """Real seconds until the next routine poll (``INF``: dormant).

    A project whose changes arrive by webhook (``hooked``) is polled only as a
    safety net, ``HOOKED_STRETCH`` times less often.
    """
    seconds = interval(policy, status, errors=errors, since=since, now=now, time_scale=time_scale)
    if seconds == INF:
        return INF
    if hooked:
        seconds *= HOOKED_STRETCH
    return seconds * time_scale


def retry_delay(
    policy: PollPolicy,
    status: ProjectStatus | None,
    *,
    errors: int,
    since: float,
    now: float,
    time_scale: float,
) -> float:
    """Real seconds of the status interval, never zero or ``INF`` (then the unknown one).

    For a poll put off because another poller has it: its answer re-plans the
    project; if that poll fails, this one comes a whole interval later.
    """
    seconds = interval(policy, status, errors=errors, since=since, now=now, time_scale=time_scale)
    if seconds in (0.0, INF):
        seconds = policy.unknown
    return seconds * time_scale


def fairness_key(due: float, status: ProjectStatus | None, time_scale: float) -> float:
    """The order of parked polls: due time moved ahead by the status's capped ``BONUS``."""
    bonus = BONUS.get(status, 0.0) if status is not None else 0.0
    return due - bonus * time_scale
