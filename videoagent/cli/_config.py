"""The command's settings: flags first, then ``VIDEOAGENT_*`` variables; usage errors.

The rule is the library's own (``videoagent._config``): the command only
says how its users pass each setting (``--api-key``) and turns a
configuration error into a usage error (exit status 2).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Generator

import attrs

from videoagent._config import (
    resolve_api_key,
    resolve_base_url,
    resolve_time_scale,
    resolve_webhook_secret,
)
from videoagent._errors import ConfigurationError

__all__ = ["Settings", "UsageError", "resolve", "time_scale", "webhook_secret"]


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


@contextlib.contextmanager
def _usage() -> Generator[None, None, None]:
    """A configuration error, as the command's usage error."""
    try:
        yield
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def time_scale(args: argparse.Namespace, *, default: float = 1.0) -> float:
    """``--time-scale``, else ``VIDEOAGENT_TIME_SCALE``, else ``default``; checked."""
    with _usage():
        return resolve_time_scale(
            getattr(args, "time_scale", None), default=default, given_as="--time-scale"
        )


def webhook_secret(args: argparse.Namespace) -> str | None:
    """``--webhook-secret``, else ``VIDEOAGENT_WEBHOOK_SECRET``, else None."""
    return resolve_webhook_secret(getattr(args, "webhook_secret", None) or None)


def resolve(args: argparse.Namespace) -> Settings:
    """The settings from flags and environment; a missing one names its variable."""
    with _usage():
        key = resolve_api_key(getattr(args, "api_key", None) or None, given_as="--api-key")
        url = resolve_base_url(getattr(args, "base_url", None) or None, given_as="--base-url")
    return Settings(
        api_key=key,
        base_url=url,
        time_scale=time_scale(args),
        allow_insecure=bool(getattr(args, "allow_insecure", False)),
    )
