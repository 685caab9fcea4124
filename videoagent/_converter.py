"""The SDK's one cattrs converter (private: the global converter is never touched).

JSON answers become models here: ISO 8601 timestamps become aware datetimes
(UTC when the string has no offset), an unknown status becomes
``ProjectStatus.UNKNOWN``, unknown fields are ignored, and each model keeps its
source object in ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

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

__all__ = ["CONVERTER", "make_converter", "parse_datetime", "structure"]

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


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 string as an aware datetime; no offset means UTC."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
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


def configure_converter(converter: cattrs.Converter) -> None:
    """Install the SDK's hooks on ``converter``."""
    converter.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    converter.register_structure_hook(ProjectStatus, _structure_status)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _passthrough)
    converter.register_structure_hook(str, _structure_str)
    for cls in _MODELS:
        names = {field.name for field in attrs.fields(cls)}
        overrides = {}
        if "raw" in names:
            overrides["raw"] = override(rename=_RAW_KEY)
        if "request_id" in names:
            overrides["request_id"] = override(rename=_REQUEST_ID_KEY)
        base = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
        converter.register_structure_hook(cls, _with_raw(base) if "raw" in names else base)


def _with_raw(base: Any) -> Any:
    def structure_with_raw(data: Any, cls: type[Any]) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        return base({**data, _RAW_KEY: data}, cls)

    return structure_with_raw


def make_converter() -> cattrs.Converter:
    """A new converter with the SDK's hooks (one is shared by the whole SDK)."""
    converter = cattrs.Converter()
    configure_converter(converter)
    return converter


CONVERTER = make_converter()


def structure(data: object, cls: type[T], *, request_id: str | None = None) -> T:
    """``data`` (a parsed JSON answer) as a ``cls``; a wrong shape is an APIResponseError."""
    if not isinstance(data, Mapping):
        raise APIResponseError(
            f"expected a JSON object for {cls.__name__}, got {type(data).__name__}",
            request_id=request_id,
        )
    payload = {**data, _REQUEST_ID_KEY: request_id} if request_id is not None else data
    try:
        return CONVERTER.structure(payload, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        details = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise APIResponseError(
            f"the answer does not match {cls.__name__}: {details}", request_id=request_id
        ) from exc
