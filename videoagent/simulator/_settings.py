"""The simulator's knobs: the contract's limits and durations, as frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["CONTRACT_DURATIONS", "Settings"]

#: Contract seconds each active status lasts on the real service: (low, high).
CONTRACT_DURATIONS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "queued": (5.0, 60.0),
        "running": (60.0, 180.0),
        "generating": (120.0, 480.0),
        "rendering": (30.0, 90.0),
    }
)


def _durations(
    value: Mapping[str, tuple[float, float]] | None,
) -> Mapping[str, tuple[float, float]]:
    merged = dict(CONTRACT_DURATIONS)
    for status, (low, high) in (value or {}).items():
        if status not in CONTRACT_DURATIONS:
            raise ValueError(f"no duration for status {status!r}: not an active status")
        if not 0 <= low <= high:
            raise ValueError(f"durations[{status!r}] must be 0 <= low <= high")
        merged[status] = (float(low), float(high))
    return MappingProxyType(merged)


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None (no limit), got {value!r}")


def _decision_points(
    instance: object, attribute: attrs.Attribute[tuple[int, int]], value: tuple[int, int]
) -> None:
    low, high = value
    if not 0 <= low <= high:
        raise ValueError(f"decision_points must be 0 <= low <= high, got {value!r}")


@attrs.frozen(kw_only=True)
class Settings:
    """Limits and behaviour of one simulator; every time in contract seconds.

    Attributes:
        request_limit: requests per account in any sliding ``request_window``;
            ``None`` turns the request limit (and its headers) off.
        request_window: the sliding window, contract seconds.
        active_limit: projects of an account in an active status at once.
        projects_per_day: projects an account may create per contract day.
        renders_per_day: renders an account may start per contract day.
        max_keys: active API keys per account.
        durations: ``{status: (low, high)}`` contract seconds each active status lasts.
        failure_rate: probability that one run (create, message or render) fails.
        decision_points: ``(low, high)`` decision points of a collaborative project.
        url_ttl: contract seconds a result's ``video_url`` stays valid.
        idempotency_ttl: contract seconds an ``idempotency_key`` is remembered.
        create_cost, message_cost: credits charged (and required) by create and message.
        warning_threshold: ``credits_warning`` appears while the balance is below it.
    """

    request_limit: int | None = attrs.field(default=30, validator=_optional_positive)
    request_window: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    active_limit: int | None = attrs.field(default=5, validator=_optional_positive)
    projects_per_day: int | None = attrs.field(default=200, validator=_optional_positive)
    renders_per_day: int | None = attrs.field(default=50, validator=_optional_positive)
    max_keys: int = attrs.field(default=10, validator=attrs.validators.gt(0))
    durations: Mapping[str, tuple[float, float]] = attrs.field(default=None, converter=_durations)
    failure_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    decision_points: tuple[int, int] = attrs.field(default=(1, 2), validator=_decision_points)
    url_ttl: float = 86_400.0
    idempotency_ttl: float = 86_400.0
    create_cost: int = 50
    message_cost: int = 10
    warning_threshold: int = 100
