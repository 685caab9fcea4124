"""Request validation: JSON bodies and query parameters, as the contract's schemas say.

Each check returns the reasons it found as ``"field: reason"``; the handler
joins them with ``"; "`` into one ``validation_error`` message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Field",
    "check_body",
    "enum",
    "integer",
    "integer_param",
    "metadata",
    "nullable",
    "number",
    "string",
    "uri",
]

#: A field check: the value in, a reason (or None when the value is fine) out.
Check = Callable[[str, Any], "str | None"]
Field = tuple[Check, bool]  # (check, required)


def string(min_length: int, max_length: int) -> Check:
    """A JSON string of ``min_length`` to ``max_length`` characters."""

    def check(name: str, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{name}: {name} must be a string"
        if not min_length <= len(value) <= max_length:
            if len(value) < min_length:
                return f"{name}: {name} must not be empty"
            return f"{name}: {name} must be at most {max_length} characters"
        return None

    return check


def enum(*choices: str) -> Check:
    """One of ``choices``."""
    spelled = " or ".join(choices) if len(choices) <= 2 else ", ".join(choices)

    def check(name: str, value: Any) -> str | None:
        if value not in choices or not isinstance(value, str):
            return f"{name}: {name} must be {spelled}"
        return None

    return check


def number(low: float, high: float) -> Check:
    """A JSON number (not a boolean) from ``low`` to ``high``."""

    def check(name: str, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name}: {name} must be a number"
        if not low <= value <= high:
            return f"{name}: {name} must be from {low:g} to {high:g}"
        return None

    return check


def integer(low: int, high: int) -> Check:
    """A JSON integer (not a boolean) from ``low`` to ``high``."""

    def check(name: str, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name}: {name} must be an integer"
        if not low <= value <= high:
            return f"{name}: {name} must be from {low:,} to {high:,}"
        return None

    return check


def nullable(inner: Check) -> Check:
    """``inner``, or ``null``."""

    def check(name: str, value: Any) -> str | None:
        return None if value is None else inner(name, value)

    return check


def uri(*, nullable: bool = False) -> Check:
    """An absolute http(s) URL (``None`` allowed when ``nullable``)."""

    def check(name: str, value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            return f"{name}: {name} must be a string"
        try:
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid or len(value) > 2048:
            return f"{name}: {name} must be an absolute http or https URL"
        return None

    return check


def metadata(max_properties: int, max_value: int) -> Check:
    """An object of at most ``max_properties`` string values, each ``max_value`` long."""

    def check(name: str, value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"{name}: {name} must be an object"
        if len(value) > max_properties:
            return f"{name}: {name} must have at most {max_properties} keys"
        for key, item in value.items():
            if not isinstance(item, str):
                return f"{name}.{key}: value must be a string"
            if len(item) > max_value:
                return f"{name}.{key}: value must be at most {max_value} characters"
        return None

    return check


def check_body(body: Any, fields: Mapping[str, Field], *, closed: bool = True) -> list[str]:
    """Every problem of ``body`` against ``fields`` (unknown fields too when ``closed``)."""
    if not isinstance(body, dict):
        return ["body: body must be a JSON object"]
    problems = [
        f"{name}: {name} is required"
        for name, (_, required) in fields.items()
        if required and name not in body
    ]
    for name, value in body.items():
        field = fields.get(name)
        if field is None:
            if closed:
                problems.append(f"{name}: unknown field")
            continue
        problem = field[0](name, value)
        if problem is not None:
            problems.append(problem)
    return problems


def integer_param(
    query: Mapping[str, str], name: str, *, default: int, low: int, high: int, problems: list[str]
) -> int:
    """The integer query parameter ``name`` within ``low..high`` (a problem noted if not)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}: {name} must be an integer")
        return default
    if not low <= value <= high:
        problems.append(f"{name}: {name} must be between {low} and {high}")
        return default
    return value
