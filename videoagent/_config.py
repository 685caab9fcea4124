"""Configuration: frozen values with the contract's defaults, and the environment.

Every duration here is in the contract's units (seconds of the real service).
The client multiplies each wait it makes by its ``time_scale``.

This is the one module that reads ``os.environ``: the library, the CLI and
every integration resolve their settings with the ``resolve_*`` functions
below, by one rule: an explicit argument wins, else the ``VIDEOAGENT_*``
variable, else the default; a missing or bad value is a
``ConfigurationError`` naming the variable (and never showing a secret).
"""

from __future__ import annotations

import logging
import math
import os
import urllib.parse
import urllib.request
from typing import Final

import attrs

from ._errors import ConfigurationError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "LOG_ENV",
    "REDIS_URL_ENV",
    "TIME_SCALE_ENV",
    "WEBHOOK_SECRET_ENV",
    "Limits",
    "PollPolicy",
    "RetryPolicy",
    "environment_secrets",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_log_level",
    "resolve_proxy",
    "resolve_redis_url",
    "resolve_seconds",
    "resolve_text",
    "resolve_time_scale",
    "resolve_webhook_secret",
    "setup_logging",
    "timeout_for_scale",
]

API_KEY_ENV: Final = "VIDEOAGENT_API_KEY"
BASE_URL_ENV: Final = "VIDEOAGENT_BASE_URL"
TIME_SCALE_ENV: Final = "VIDEOAGENT_TIME_SCALE"
REDIS_URL_ENV: Final = "VIDEOAGENT_REDIS_URL"
WEBHOOK_SECRET_ENV: Final = "VIDEOAGENT_WEBHOOK_SECRET"
LOG_ENV: Final = "VIDEOAGENT_LOG"


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

    Where the limits are kept (this process, or Redis for every process of
    the account) is the client's ``limits_backend``, not a limit.
    """

    requests: int | None = 30
    per: float = attrs.field(default=60.0, validator=_positive)
    active_projects: int | None = 5
    reserve: int = attrs.field(default=2, validator=attrs.validators.ge(0))
    margin: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))

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
    generating: tuple[float, float] = attrs.field(
        default=(30.0, 60.0), validator=lambda _self, _attr, value: _check_range(value)
    )
    rendering: float = attrs.field(default=30.0, validator=_positive)
    unknown: float = attrs.field(default=30.0, validator=_positive)
    messages: bool = True
    max_consecutive_errors: int = attrs.field(default=5, validator=attrs.validators.ge(1))


def _check_range(value: tuple[float, float]) -> None:
    low, high = value
    if not 0 < low <= high:
        raise ValueError(f"generating must be (low, high) with 0 < low <= high, got {value!r}")


def _env(name: str) -> str | None:
    """The variable's value, or None when unset or empty."""
    return os.environ.get(name) or None


def resolve_api_key(api_key: str | None, *, given_as: str = "api_key=...") -> str:
    """The given key, else ``VIDEOAGENT_API_KEY``; surrounding whitespace (a pasted
    newline) is dropped, a key with whitespace inside is refused (never shown).
    ``given_as``: how the caller's users pass it (for the message)."""
    source = given_as if api_key is not None else API_KEY_ENV
    key = (api_key if api_key is not None else _env(API_KEY_ENV) or "").strip()
    if not key:
        raise ConfigurationError(
            f"no API key: pass {given_as} or set the {API_KEY_ENV} environment variable"
        )
    if any(character.isspace() or not character.isprintable() for character in key):
        raise ConfigurationError(
            f"the API key from {source} holds whitespace or control characters inside "
            "(a key is one word; check what was pasted)"
        )
    return key


def resolve_base_url(base_url: str | None, *, given_as: str = "base_url=...") -> str:
    """The given base URL, else ``VIDEOAGENT_BASE_URL``, without a trailing slash."""
    url = (base_url if base_url is not None else _env(BASE_URL_ENV) or "").strip()
    if not url:
        raise ConfigurationError(
            f"no base URL: pass {given_as} or set the {BASE_URL_ENV} environment variable "
            "(it ends in /v1; `videoagent simulate` starts a local one)"
        )
    if not url.startswith(("http://", "https://")):
        source = given_as.rstrip("=.") if base_url is not None else BASE_URL_ENV
        raise ConfigurationError(
            f"{source} must be an http:// or https:// URL ending in /v1 (its value is not shown)"
        )
    return url.rstrip("/")


def resolve_time_scale(
    time_scale: object, *, default: float = 1.0, given_as: str = "time_scale"
) -> float:
    """The given time scale, else ``VIDEOAGENT_TIME_SCALE``, else ``default``; a positive
    number (a string, from a command line or the variable, is read as one)."""
    if time_scale is None:
        time_scale, given_as = _env(TIME_SCALE_ENV), TIME_SCALE_ENV
        if time_scale is None:
            return default
    value = _float(time_scale)
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"{given_as} must be a number > 0 (1.0 is real time), got {time_scale!r}"
        )
    return value


def _float(value: object) -> float | None:
    """``value`` as a float, if it is a number or a string of one (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def resolve_redis_url(redis_url: str | None) -> str | None:
    """The given Redis URL, else ``VIDEOAGENT_REDIS_URL``, else None (no fleet mode)."""
    url = redis_url if redis_url is not None else _env(REDIS_URL_ENV)
    if url is None:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        source = "redis_url" if redis_url is not None else REDIS_URL_ENV
        raise ConfigurationError(
            f"{source} must be a redis://, rediss:// or unix:// URL (its value is not shown)"
        )
    return url


def resolve_seconds(value: float | None, *, variable: str, default: float) -> float:
    """The given seconds, else the variable ``variable``, else ``default``; a number > 0."""
    if value is None:
        text = _env(variable)
        if text is None:
            return default
        value, given_as = _float(text), variable
    else:
        given_as = variable
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{given_as} must be a number of seconds > 0, got {value!r}")
    return float(value)


def resolve_text(value: str | None, *, variable: str) -> str | None:
    """The given text, else the variable ``variable``, else None."""
    return value if value is not None else _env(variable)


def resolve_webhook_secret(secret: str | None) -> str | None:
    """The given webhook secret, else ``VIDEOAGENT_WEBHOOK_SECRET``, else None."""
    return secret if secret is not None else _env(WEBHOOK_SECRET_ENV)


def environment_secrets() -> set[str]:
    """The secrets the environment holds (the API key, the webhook secret, the Redis
    URL, which may hold a password), for output that must never show them."""
    return {value for name in (API_KEY_ENV, WEBHOOK_SECRET_ENV, REDIS_URL_ENV)
            if (value := _env(name)) is not None}  # fmt: skip


def resolve_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, minus ``NO_PROXY``), as httpx and curl read them; else None."""
    proxies = urllib.request.getproxies_environment()
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not proxies or urllib.request.proxy_bypass(host):  # the env rules when env proxies exist
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


_LOG_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO}


def resolve_log_level() -> int | None:
    """The level ``VIDEOAGENT_LOG`` asks for (``debug`` or ``info``), else None (no logging)."""
    text = _env(LOG_ENV)
    if text is None:
        return None
    level = _LOG_LEVELS.get(text.strip().lower())
    if level is None:
        raise ConfigurationError(f"{LOG_ENV} must be debug or info, got {text!r}")
    return level


_LOGGING_SET_UP: list[bool] = []


def setup_logging() -> None:
    """Log the ``videoagent`` loggers to stderr when ``VIDEOAGENT_LOG`` asks (once).

    ``debug``: every request (method, path, status, request id, duration);
    ``info``: retries, waits and warnings. Never the key: no log line of the
    SDK holds it.
    """
    level = resolve_log_level()
    if level is None or _LOGGING_SET_UP:
        return
    _LOGGING_SET_UP.append(True)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("videoagent")
    root.addHandler(handler)
    root.setLevel(level)
