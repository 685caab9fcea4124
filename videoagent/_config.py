"""Configuration values: frozen, documented, with the contract's defaults.

Every duration here is in the contract's units (seconds of the real service).
The client multiplies each wait it makes by its ``time_scale``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._limiter import LimitsBackend

__all__ = [
    "Limits",
    "PollPolicy",
    "RetryPolicy",
    "resolve_api_key",
    "resolve_backend",
    "resolve_base_url",
    "timeout_for_scale",
]

API_KEY_ENV = "VIDEOAGENT_API_KEY"
BASE_URL_ENV = "VIDEOAGENT_BASE_URL"
REDIS_URL_ENV = "VIDEOAGENT_REDIS_URL"


_positive = attrs.validators.gt(0.0)


def timeout_for_scale(time_scale: float) -> float:
    """Contract seconds per attempt for a tool at ``time_scale``: 30, but at least 5
    real seconds (a fast simulator still answers in real milliseconds)."""
    return max(30.0, 5.0 / time_scale)


@attrs.frozen(kw_only=True)
class Limits:
    """The account's limits, as the client enforces them before the server has to.

    Example::

        Limits()                                # the contract: 30 per 60 s, 5 active
        Limits(requests=None, active_projects=None)   # no client-side limits at all

    Attributes:
        requests: requests allowed in any sliding window of ``per`` seconds;
            ``None`` turns the request limiter off.
        per: the window, in seconds.
        active_projects: projects in an active state at once; ``None`` turns
            the slot accounting off.
        reserve: requests of each window that the watcher's routine polls leave
            free for creates, messages and other calls made by the user.
        margin: seconds a request's slot is held after its answer arrives,
            beyond the window (the server counts a request when it arrives,
            so network delay shifts its window against ours).
        backend: where the limits are kept: ``None`` (default) in this
            process, unless ``VIDEOAGENT_REDIS_URL`` is set; a
            ``videoagent.fleet.RedisBackend`` shares them with every process
            of the account (fleet mode).
    """

    requests: int | None = 30
    per: float = attrs.field(default=60.0, validator=_positive)
    active_projects: int | None = 5
    reserve: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    margin: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    backend: LimitsBackend | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("requests", "active_projects"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None (unlimited), got {value!r}")

    @classmethod
    def unlimited(cls) -> Limits:
        """No client-side limits (for benchmarks, or a server without them)."""
        return cls(requests=None, active_projects=None, reserve=0)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried: exponential backoff with full jitter.

    Attributes:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff_base: the first backoff ceiling in seconds; it doubles each attempt.
        backoff_max: the largest backoff ceiling in seconds.
        max_retry_wait: a ``Retry-After`` longer than this (the daily limits
            answer with hours) raises at once instead of sleeping.
    """

    max_retries: int = attrs.field(default=4, validator=attrs.validators.ge(0))
    backoff_base: float = attrs.field(default=0.5, validator=_positive)
    backoff_max: float = attrs.field(default=30.0, validator=_positive)
    max_retry_wait: float = attrs.field(default=120.0, validator=_positive)


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How often the watcher polls a project in each status (seconds).

    Defaults are the contract's table. ``generating`` is a range: the watcher
    polls at its slow end while a generation cannot have ended yet (the
    contract's typical minimum is 2 minutes) and at its fast end once it may
    have. Unknown statuses (a newer server) are polled at
    ``unknown``.

    Example::

        PollPolicy()                              # the contract's intervals
        PollPolicy(generating=(30.0, 30.0))       # fastest detection the contract allows
    """

    queued: float = attrs.field(default=5.0, validator=_positive)
    running: float = attrs.field(default=30.0, validator=_positive)
    generating: tuple[float, float] = attrs.field(default=(30.0, 60.0))
    rendering: float = attrs.field(default=30.0, validator=_positive)
    unknown: float = attrs.field(default=30.0, validator=_positive)
    messages: bool = True
    max_consecutive_errors: int = attrs.field(default=5, validator=attrs.validators.ge(1))

    @generating.validator
    def _check_generating(
        self, _: attrs.Attribute[tuple[float, float]], value: tuple[float, float]
    ) -> None:
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"generating must be (low, high) with 0 < low <= high, got {value!r}")


def resolve_api_key(api_key: str | None) -> str:
    """The given key, else ``VIDEOAGENT_API_KEY``; a clear error naming the variable."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if not key:
        raise ConfigurationError(
            f"no API key: pass api_key=... or set the {API_KEY_ENV} environment variable"
        )
    return key


def resolve_backend(limits: Limits) -> LimitsBackend | None:
    """``limits.backend``, else a ``RedisBackend`` from ``VIDEOAGENT_REDIS_URL``, else None."""
    if limits.backend is not None:
        return limits.backend
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        return None
    try:
        from .fleet import RedisBackend  # noqa: PLC0415 - the optional extra, only when asked for
    except ImportError as exc:
        raise ConfigurationError(
            f"{REDIS_URL_ENV} is set, but fleet mode needs the redis extra: "
            "pip install 'videoagent[redis]'"
        ) from exc
    return RedisBackend(url=url)


def resolve_base_url(base_url: str | None) -> str:
    """The given base URL, else ``VIDEOAGENT_BASE_URL``, without a trailing slash."""
    url = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
    if not url:
        raise ConfigurationError(
            f"no base URL: pass base_url=... or set the {BASE_URL_ENV} environment variable "
            "(it ends in /v1; `videoagent simulate` starts a local one)"
        )
    return url.rstrip("/")
