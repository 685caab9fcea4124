"""The Celery integration's settings (from the environment) and the worker's client.

Every worker and the submitter read the same variables:

- ``VIDEOAGENT_REDIS_URL``: where the account's limits (the fleet's
  ``RedisBackend``) and each batch's state live; the broker too, unless
  ``CELERY_BROKER_URL`` names another;
- ``VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT`` (real seconds, default 1800): the
  Redis transport's visibility timeout, the time after which a message a
  worker took and never acknowledged (the worker died) is delivered again.
  Every task's hard time limit stays under 90% of it, so a task still running
  is not delivered twice; a countdown (a poll's, at most 60 contract seconds)
  longer than it would be (the task's second copy is then a stale step);
- ``VIDEOAGENT_CELERY_LEASE`` (real seconds, default 10): each worker
  process's fleet lease: a killed worker's active slots come back after two;
- ``VIDEOAGENT_API_KEY``, ``VIDEOAGENT_BASE_URL``, ``VIDEOAGENT_TIME_SCALE``:
  the API, as everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from videoagent._config import (
    PollPolicy,
    resolve_redis_url,
    resolve_seconds,
    resolve_text,
    resolve_time_scale,
    timeout_for_scale,
)
from videoagent._errors import ConfigurationError

if TYPE_CHECKING:
    from videoagent import VideoAgent

__all__ = [
    "BROKER_ENV",
    "LEASE_ENV",
    "VISIBILITY_ENV",
    "CelerySettings",
    "make_worker_client",
    "settings",
]

BROKER_ENV = "CELERY_BROKER_URL"
VISIBILITY_ENV = "VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT"
LEASE_ENV = "VIDEOAGENT_CELERY_LEASE"
#: Contract seconds a create, poll or action step may take at most (the limiter's
#: window, a slot wait, retries with backoff); scaled by the time scale.
_STEP_LIMIT = 300.0
#: Contract seconds a step waits for an active slot before it frees its worker.
_SLOT_WAIT = 30.0


@attrs.frozen(kw_only=True)
class CelerySettings:
    """The integration's settings (see the module docstring)."""

    redis_url: str | None
    broker_url: str | None
    time_scale: float
    visibility_timeout: float = 1800.0
    lease: float = 10.0

    @property
    def step_time_limit(self) -> float:
        """Hard time limit of a create or poll step (real seconds)."""
        return min(max(5.0, _STEP_LIMIT * self.time_scale), 0.9 * self.visibility_timeout)

    @property
    def download_time_limit(self) -> float:
        """Hard time limit of a download (real seconds: bytes do not scale)."""
        return 0.9 * self.visibility_timeout

    @property
    def slot_wait(self) -> float:
        """Real seconds a step waits for an active slot before it re-schedules itself."""
        return min(max(0.2, _SLOT_WAIT * self.time_scale), self.step_time_limit / 4)


def settings() -> CelerySettings:
    """The settings now, from the environment."""
    redis_url = resolve_redis_url(None)
    return CelerySettings(
        redis_url=redis_url,
        broker_url=resolve_text(None, variable=BROKER_ENV) or redis_url,
        time_scale=resolve_time_scale(None),
        visibility_timeout=resolve_seconds(None, variable=VISIBILITY_ENV, default=1800.0),
        lease=resolve_seconds(None, variable=LEASE_ENV, default=10.0),
    )


def make_worker_client() -> VideoAgent:
    """A worker process's client: the fleet's limits, polled by the queue's steps."""
    from videoagent import VideoAgent  # noqa: PLC0415 - the blocking face, only in a worker
    from videoagent.fleet import RedisBackend  # noqa: PLC0415 - the extra

    config = settings()
    if config.redis_url is None:
        raise ConfigurationError(
            "a videoagent Celery worker needs VIDEOAGENT_REDIS_URL: the account's limits "
            "and the batches' state live there"
        )
    backend = RedisBackend(
        url=config.redis_url, lease=config.lease, polling="queue", slot_wait=config.slot_wait
    )
    return VideoAgent(
        time_scale=config.time_scale,
        timeout=timeout_for_scale(config.time_scale),
        limits_backend=backend,
        poll_policy=PollPolicy(messages=False),
    )
