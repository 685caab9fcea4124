"""Checks of the caller's arguments, made before anything is sent.

Each check raises ``InvalidRequestError`` (also a ``ValueError``) naming the
argument and what is wrong with it, and ending in "nothing was sent". The
limits are the contract's (``openapi.yaml``): a request the server would
refuse with 400 is refused here without spending a request of the budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote, urlsplit

from ._errors import InvalidRequestError

__all__ = [
    "MAX_TEXT",
    "check_choice",
    "check_encodable",
    "check_id",
    "check_idempotency_key",
    "check_limit",
    "check_metadata",
    "check_text",
    "check_webhook_url",
    "is_id",
]

#: The longest brief or message the API takes, in characters.
MAX_TEXT: Final = 20_000
_MAX_KEY: Final = 255
_MAX_URL: Final = 2048
_MAX_METADATA: Final = 20
_MAX_METADATA_VALUE: Final = 500
_NOTHING_SENT: Final = " (nothing was sent)"

_ID_PATTERNS: Final = {
    prefix: re.compile(rf"{prefix}_[A-Za-z0-9]{{1,64}}") for prefix in ("prj", "msg", "key")
}
_checked_ids: dict[tuple[object, str], str] = {}


def _refuse(message: str) -> InvalidRequestError:
    return InvalidRequestError(message + _NOTHING_SENT)


def _shown(value: object) -> str:
    """A short repr of a bad value (a 1 MB brief is not repeated in the message)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:50]}... ({len(text):,} characters)"


def is_id(value: object, prefix: str) -> bool:
    """Whether ``value`` looks like an id of ours: ``{prefix}_`` and 1-64 letters or digits.

    (Every answer's project passes here: the ids ``check_id`` saw lately are known.)
    """
    try:
        if (value, prefix) in _checked_ids:
            return True
    except TypeError:  # unhashable
        return False
    return isinstance(value, str) and _ID_PATTERNS[prefix].fullmatch(value) is not None


def check_id(value: object, prefix: str, name: str) -> str:
    """``value`` URL-quoted for a path, after checking it looks like ``{prefix}_...``."""
    try:
        return _checked_ids[value, prefix]
    except (KeyError, TypeError):
        pass
    if not isinstance(value, str) or _ID_PATTERNS[prefix].fullmatch(value) is None:
        raise _refuse(
            f"{name} must look like {prefix}_ followed by letters and digits, got {_shown(value)}"
        )
    quoted = quote(value, safe="")
    if len(_checked_ids) >= 4096:  # ids repeat (polling): remember the recent ones
        _checked_ids.clear()
    _checked_ids[value, prefix] = quoted
    return quoted


def check_text(value: object, name: str, *, limit: int = MAX_TEXT) -> str:
    """A brief, a message or a key: a string of 1 to ``limit`` characters, not blank,
    that UTF-8 can encode."""
    if not isinstance(value, str):
        raise _refuse(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _refuse(f"{name} must not be empty, got {_shown(value)}")
    if len(value) > limit:
        raise _refuse(f"{name} is {len(value):,} characters long; the API takes at most {limit:,}")
    return check_encodable(value, name)


def check_encodable(value: str, name: str) -> str:
    """``value`` if UTF-8 can encode it (a lone surrogate cannot: JSON would carry it
    as an escape the API refuses, or decode it as garbage)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(
            f"{name} holds a character UTF-8 cannot encode ({value[exc.start]!r} at "
            f"position {exc.start}, a lone surrogate?)"
        ) from None
    return value


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (a mode, a resolution, a status)."""
    if not isinstance(value, str) or value not in choices:
        raise _refuse(f"{name} must be one of {', '.join(choices)}; got {_shown(value)}")
    return value


def check_limit(value: object, name: str = "limit") -> int:
    """A page size: an int from 1 to 100."""
    if type(value) is not int or not 1 <= value <= 100:
        raise _refuse(f"{name} must be an int from 1 to 100, got {_shown(value)}")
    return value


def check_idempotency_key(value: object) -> str:
    """An idempotency key: 1 to 255 characters."""
    return check_text(value, "idempotency_key", limit=_MAX_KEY)


def check_metadata(value: object) -> dict[str, str]:
    """At most 20 string keys with string values of at most 500 characters."""
    if not isinstance(value, Mapping):
        raise _refuse(f"metadata must be a mapping of str to str, got {type(value).__name__}")
    if len(value) > _MAX_METADATA:
        raise _refuse(f"metadata has {len(value)} entries; the API takes at most {_MAX_METADATA}")
    checked: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise _refuse(f"metadata[{_shown(key)}] must map a str to a str, got {_shown(item)}")
        check_encodable(key, "a metadata key")
        check_encodable(item, f"metadata[{_shown(key)}]")
        if len(item) > _MAX_METADATA_VALUE:
            raise _refuse(
                f"metadata[{key!r}] is {len(item):,} characters long; "
                f"the API takes at most {_MAX_METADATA_VALUE}"
            )
        checked[key] = item
    return checked


def check_webhook_url(value: object, *, base_url: str) -> str:
    """An absolute http(s) URL; ``https`` whenever the API itself is reached over https.

    Webhooks carry project ids and statuses and a signature that stays valid
    for minutes: an API on https must not deliver them in clear.
    """
    if not isinstance(value, str):
        raise _refuse(f"webhook_url must be a string, got {type(value).__name__}")
    check_encodable(value, "webhook_url")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise _refuse(f"webhook_url must be an absolute http(s) URL, got {_shown(value)}")
    if len(value) > _MAX_URL:
        raise _refuse(f"webhook_url is {len(value):,} characters long; at most {_MAX_URL:,}")
    if parts.scheme != "https" and base_url.startswith("https://"):
        raise _refuse(
            f"webhook_url must use https when the API does ({base_url.split('/')[2]}), "
            f"got {_shown(value)}"
        )
    return value
