"""The command's settings: flags first, then ``VIDEOAGENT_*`` variables; usage errors."""

from __future__ import annotations

import argparse
import math
import os

import attrs

from videoagent._config import API_KEY_ENV, BASE_URL_ENV

__all__ = [
    "TIME_SCALE_ENV",
    "WEBHOOK_SECRET_ENV",
    "Settings",
    "UsageError",
    "resolve",
    "time_scale",
]

TIME_SCALE_ENV = "VIDEOAGENT_TIME_SCALE"
WEBHOOK_SECRET_ENV = "VIDEOAGENT_WEBHOOK_SECRET"


class UsageError(Exception):
    """Wrong usage or configuration: one sentence for the user, exit status 2."""


@attrs.frozen
class Settings:
    """Where to connect and how fast time runs (the key's repr is hidden).

    ``allow_insecure``: a plain-http base URL to a host other than loopback
    is intended (``--allow-insecure``); the client then gives no warning.
    """

    api_key: str = attrs.field(repr=False)
    base_url: str
    time_scale: float
    allow_insecure: bool = False


def time_scale(args: argparse.Namespace) -> float:
    """``--time-scale``, else ``VIDEOAGENT_TIME_SCALE``, else 1.0; checked."""
    value = getattr(args, "time_scale", None)
    source = "--time-scale"
    if value is None:
        value, source = os.environ.get(TIME_SCALE_ENV) or None, TIME_SCALE_ENV
    if value is None:
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        raise UsageError(f"{source} must be a number, got {value!r}") from None
    if not (scale > 0 and math.isfinite(scale)):
        raise UsageError(f"{source} must be a positive number, got {value!r}")
    return scale


def resolve(args: argparse.Namespace) -> Settings:
    """The settings from flags and environment; a missing one names its variable."""
    key = getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV)
    if not key:
        raise UsageError(
            f"no API key: set the {API_KEY_ENV} environment variable (or pass --api-key)"
        )
    url = getattr(args, "base_url", None) or os.environ.get(BASE_URL_ENV)
    if not url:
        raise UsageError(
            f"no API base URL: set the {BASE_URL_ENV} environment variable (or pass "
            "--base-url); `videoagent simulate` serves a local one"
        )
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"the base URL must start with http:// or https://, got {url!r}")
    return Settings(
        api_key=key,
        base_url=url,
        time_scale=time_scale(args),
        allow_insecure=bool(getattr(args, "allow_insecure", False)),
    )
