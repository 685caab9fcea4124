"""Secrets stay out of what the command prints: the resume line and argument errors.

A secret reaches the command as the value of a secret option (``--api-key K``,
``--api-key=K``, an abbreviation such as ``--api-k K``), as the value of a
misspelt one (``--apikey K``: argparse then takes ``K`` for the command and
echoes it), or from the environment. ``without_secrets`` drops them from a
command line; ``redact`` hides them in a message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from videoagent._config import API_KEY_ENV, WEBHOOK_SECRET_ENV, environment_secrets

__all__ = ["REDACTED", "SECRET_OPTIONS", "redact", "without_secrets"]

#: Every option whose value is a secret, with the variable that can hold it instead.
SECRET_OPTIONS: dict[str, str] = {"--api-key": API_KEY_ENV, "--webhook-secret": WEBHOOK_SECRET_ENV}
REDACTED = "<redacted>"

#: The shape of an API key (``es_live_`` + 32 alphanumerics; any length here).
_KEY_SHAPE = re.compile(r"(?<![A-Za-z0-9])es_(?:live|test)_[A-Za-z0-9]+")
#: Words in an option's name that make its value a secret (``--apikey``, ``--api_key``...).
_SECRET_WORDS = ("key", "secret", "token", "passw", "auth")
#: Options with such a word whose value is not a secret.
_NOT_SECRET = frozenset({"idempotencykey"})


def _name(token: str) -> str | None:
    """The option name in ``token`` (``--api-key=K`` -> ``--api-key``), or None."""
    if not token.startswith("--") or token == "--":
        return None
    return token.partition("=")[0]


def _secret_option(name: str) -> str | None:
    """The secret option ``name`` stands for, in full or abbreviated, or None."""
    for option in SECRET_OPTIONS:
        if len(name) > 2 and option.startswith(name):
            return option
    return None


def _looks_secret(name: str) -> bool:
    """A secret option, or a misspelling of one: its value is hidden in messages."""
    if _secret_option(name):
        return True
    words = name.lstrip("-").replace("-", "").replace("_", "").lower()
    return words not in _NOT_SECRET and any(word in words for word in _SECRET_WORDS)


def without_secrets(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``argv`` without secret options and their values; the variables to set instead."""
    kept: list[str] = []
    variables: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":  # the rest are positionals
            kept.append(token)
            kept.extend(tokens)
            break
        name = _name(token)
        option = _secret_option(name) if name else None
        if option is None:
            kept.append(token)
            continue
        if "=" not in token:
            next(tokens, None)  # its value
        if SECRET_OPTIONS[option] not in variables:
            variables.append(SECRET_OPTIONS[option])
    return kept, variables


def _secret_values(argv: Sequence[str]) -> set[str]:
    """The values given to secret options (or misspelt ones) in ``argv``."""
    values: set[str] = set()
    for position, token in enumerate(argv):
        name = _name(token)
        if name is None or not _looks_secret(name):
            continue
        if "=" in token:
            values.add(token.partition("=")[2])
        elif position + 1 < len(argv):
            values.add(argv[position + 1])
    values.update(environment_secrets())
    values.discard("")
    return values


def redact(text: str, argv: Sequence[str]) -> str:
    """``text`` with every secret of ``argv`` (and of the environment) and every key hidden."""
    for value in sorted(_secret_values(argv), key=len, reverse=True):
        for form in {value, repr(value)[1:-1]}:
            text = re.sub(
                rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])",
                REDACTED,
                text,
            )
    return _KEY_SHAPE.sub(REDACTED, text)
