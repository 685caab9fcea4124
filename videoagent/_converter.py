"""The SDK's one cattrs converter (private: the global converter is never touched).

JSON answers become models here: ISO 8601 timestamps become aware datetimes
(UTC when the string has no offset), an unknown status becomes
``ProjectStatus.UNKNOWN``, unknown fields are ignored, and each model keeps its
source object in ``raw``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import APIResponseError
from ._models import (
    Account,
    ApiKey,
    ApiKeyCreated,
    CreditsWarning,
    Message,
    MessageAccepted,
    MessagePage,
    Project,
    ProjectPage,
    ProjectStatus,
    Result,
)

__all__ = ["CONVERTER", "make_converter", "parse_datetime", "structure", "structure_project"]

T = TypeVar("T")

#: Keys no JSON answer of the contract uses: they carry ``raw`` and ``request_id``
#: through the generated structuring functions without an extra copy of the model.
_RAW_KEY = "\x00raw"
_REQUEST_ID_KEY = "\x00request_id"

_MODELS: tuple[type[Any], ...] = (
    Project,
    Message,
    MessageAccepted,
    Result,
    Account,
    ApiKey,
    ApiKeyCreated,
    ProjectPage,
    MessagePage,
    CreditsWarning,
)


_FRACTION = re.compile(r"\.(\d+)")


def _six_digits(match: re.Match[str]) -> str:
    return "." + match.group(1)[:6].ljust(6, "0")


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 string as an aware datetime; no offset means UTC."""
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    return _parse_iso(value)


@functools.lru_cache(maxsize=1024)
def _parse_iso(value: str) -> datetime:
    # Cached: every poll of a project repeats its created_at (and mostly updated_at);
    # datetimes are immutable, so one object may be shared. Errors are not cached.
    text = value[:-1] + "+00:00" if value[-1:] in "Zz" else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # Python 3.10 takes only 3 or 6 fraction digits
        parsed = datetime.fromisoformat(_FRACTION.sub(_six_digits, text))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _structure_status(value: object, _: type[ProjectStatus]) -> ProjectStatus:
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    return ProjectStatus.parse(value)


def _passthrough(value: Any, _: object) -> Any:
    return value


def _structure_str(value: object, _: type[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_int(value: object, _: type[int]) -> int:
    """An integer as JSON has it: not a string, a bool or a fraction ("5", true, 5.5)."""
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _structure_bool(value: object, _: type[bool]) -> bool:
    """``true`` or ``false``: not 1, "yes" or null."""
    if type(value) is not bool:
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _is_optional(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, UnionType) and len(args) == 2 and type(None) in args


def _optional_hook(type_: Any, converter: cattrs.Converter) -> Any:
    # One dispatch when the hook is built, not one per value (cattrs' default).
    (inner_type,) = (arg for arg in type_.__args__ if arg is not type(None))
    inner = converter.get_structure_hook(inner_type)

    def structure_optional(value: Any, _: object) -> Any:
        return None if value is None else inner(value, inner_type)

    return structure_optional


def configure_converter(converter: cattrs.Converter) -> None:
    """Install the SDK's hooks on ``converter``."""
    converter.register_structure_hook_factory(_is_optional, _optional_hook)
    converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    converter.register_structure_hook(ProjectStatus, _structure_status)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _passthrough)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    for cls in _MODELS:
        names = {field.name for field in attrs.fields(cls)}
        overrides = {}
        if "raw" in names:
            overrides["raw"] = override(rename=_RAW_KEY)
        if "request_id" in names:
            overrides["request_id"] = override(rename=_REQUEST_ID_KEY)
        base = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]  # attrs classes only
        hook = _with_raw(base) if "raw" in names else base
        converter.register_structure_hook(cls, _fast_project(hook) if cls is Project else hook)


def _with_raw(base: Any) -> Any:
    def structure_with_raw(data: Any, cls: type[Any]) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        if _RAW_KEY in data:  # structure() already added it (and the request id)
            return base(data, cls)
        return base({**data, _RAW_KEY: data}, cls)

    return structure_with_raw


def _direct_project(data: dict[str, Any], request_id: str | None) -> Project | None:
    """Project is parsed on every poll: a direct path for well-typed answers.

    ``None`` for anything unusual (a wrong type, metadata, a credits warning):
    the generated hook takes those, and explains what is wrong.
    """
    get: Callable[..., Any] = data.get  # (Any: the types are checked just below)
    pid, status, mode, brief = get("id"), get("status"), get("mode"), get("brief")
    agent, error, webhook = get("agent_message"), get("error_message"), get("webhook_url")
    progress, metadata, has_result = get("progress"), get("metadata"), get("has_result", False)
    created, updated = get("created_at"), get("updated_at")
    if not (
        type(pid) is type(status) is type(mode) is type(brief) is str
        and type(created) is type(updated) is str
        and (agent is None or type(agent) is str)
        and (error is None or type(error) is str)
        and (webhook is None or type(webhook) is str)
        and (progress is None or type(progress) is float or type(progress) is int)
        and type(has_result) is bool
        and not metadata
        and (metadata is None or type(metadata) is dict)
        and get("credits_warning") is None
    ):
        return None
    try:
        created_at, updated_at = _parse_iso(created), _parse_iso(updated)  # str: checked
        fraction = None if progress is None else float(progress)
    except (ValueError, OverflowError):
        return None  # the checked path says which field is wrong
    # Positional, in field order (a keyword call costs a third more, on every poll);
    # tests/client/test_client_models.py checks this path against the generated hook.
    return Project(
        pid,
        ProjectStatus.parse(status),
        mode,
        brief,
        created_at,
        updated_at,
        agent,
        error,
        fraction,
        webhook,
        {},  # metadata
        has_result,
        None,  # credits_warning
        request_id,
        get(_RAW_KEY, data),
    )


def _fast_project(checked: Any) -> Any:
    def structure_checked_project(data: Any, cls: type[Project]) -> Project:
        if type(data) is dict:
            project = _direct_project(data, data.get(_REQUEST_ID_KEY))
            if project is not None:
                return project
        return checked(data, cls)  # type: ignore[no-any-return]  # cattrs hooks are untyped

    return structure_checked_project


def make_converter() -> cattrs.Converter:
    """A new converter with the SDK's hooks (one is shared by the whole SDK)."""
    converter = cattrs.Converter()
    configure_converter(converter)
    return converter


CONVERTER = make_converter()


def structure_project(data: object, request_id: str | None = None) -> Project:
    """``structure(data, Project)``, taking the direct path first (the polling hot path)."""
    if type(data) is dict:
        project = _direct_project(data, request_id)
        if project is not None:
            return project
    return structure(data, Project, request_id=request_id)


def structure(data: object, cls: type[T], *, request_id: str | None = None) -> T:
    """``data`` (a parsed JSON answer) as a ``cls``; a wrong shape is an APIResponseError."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise APIResponseError(
            f"expected a JSON object for {cls.__name__}, got {type(data).__name__}",
            request_id=request_id,
        )
    payload = {**data, _RAW_KEY: data, _REQUEST_ID_KEY: request_id}
    try:
        return CONVERTER.structure(payload, cls)
    except (
        cattrs.BaseValidationError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as exc:
        details = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise APIResponseError(
            f"the answer does not match {cls.__name__}: {details}", request_id=request_id
        ) from exc
