"""The exception tree: mapping answers to classes, field errors, pickling."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import videoagent
from videoagent import (
    APIStatusError,
    AuthenticationError,
    ConflictError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProjectLimitError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
    VideoAgentError,
)
from videoagent._errors import error_for_status, parse_field_errors

VENDOR_TABLE = [
    ("validation_error", 400, ValidationError),
    ("unauthorized", 401, AuthenticationError),
    ("insufficient_credits", 402, InsufficientCreditsError),
    ("forbidden", 403, PermissionDeniedError),
    ("not_found", 404, NotFoundError),
    ("conflict", 409, ConflictError),
    ("payload_too_large", 413, PayloadTooLargeError),
    ("project_limit", 429, ProjectLimitError),
    ("rate_limited", 429, RateLimitError),
    ("internal_error", 500, InternalServerError),
    ("service_unavailable", 503, ServiceUnavailableError),
]


@pytest.mark.parametrize(("code", "status", "cls"), VENDOR_TABLE)
def test_each_vendor_code_has_its_class(code: str, status: int, cls: type[Exception]) -> None:
    """Every code of the vendor table maps to its own class carrying every detail."""
    error = error_for_status(status, code=code, message="m", request_id="req_1", retry_after=3.0)
    assert type(error) is cls
    assert isinstance(error, VideoAgentError)
    assert (error.status, error.code, error.request_id, error.retry_after) == (
        status,
        code,
        "req_1",
        3.0,
    )


def test_unknown_code_falls_back_to_the_status() -> None:
    """A code a newer server invents still maps by its HTTP status."""
    error = error_for_status(
        404, code="gone_fishing", message=None, request_id=None, retry_after=None
    )
    assert type(error) is NotFoundError
    assert "404" in str(error)


def test_unknown_status_is_a_plain_status_error() -> None:
    """A status outside the vendor table gives the base status error class."""
    error = error_for_status(418, code=None, message=None, request_id=None, retry_after=None)
    assert type(error) is APIStatusError


def test_validation_error_parses_fields() -> None:
    """The vendor's example message becomes a mapping of field to reason."""
    error = error_for_status(
        400,
        code="validation_error",
        message="brief: brief is required; mode: mode must be autonomous or collaborative",
        request_id=None,
        retry_after=None,
    )
    assert isinstance(error, ValidationError)
    assert dict(error.errors) == {
        "brief": "brief is required",
        "mode": "mode must be autonomous or collaborative",
    }


def test_field_errors_keep_parts_without_a_field() -> None:
    """A message part without ``field:`` is kept under the empty key, repeats joined."""
    assert dict(parse_field_errors("something broke; a: x; a: y")) == {
        "": "something broke",
        "a": "x; y",
    }


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9 ,.:]{1,30}", fullmatch=True).map(str.strip).filter(bool),
        min_size=1,
        max_size=5,
    )
)
def test_field_errors_round_trip(fields: dict[str, str]) -> None:
    """Any ``field: reason; ...`` message parses back to its fields."""
    message = "; ".join(f"{field}: {reason}" for field, reason in fields.items())
    assert dict(parse_field_errors(message)) == fields


def test_errors_pickle_with_their_details() -> None:
    """An error survives pickling (a process pool, a log handler) with its details."""
    error = error_for_status(
        429, code="rate_limited", message="slow down", request_id="req_9", retry_after=7.0
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is RateLimitError
    assert (clone.message, clone.request_id, clone.retry_after) == ("slow down", "req_9", 7.0)


def test_every_error_is_public_and_under_the_root() -> None:
    """Every exception class the package exports (warnings aside) derives from VideoAgentError."""
    classes = [
        getattr(videoagent, name)
        for name in videoagent.__all__
        if isinstance(getattr(videoagent, name), type)
        and issubclass(getattr(videoagent, name), BaseException)
        and not issubclass(getattr(videoagent, name), Warning)
    ]
    assert len(classes) >= 20
    assert all(issubclass(cls, VideoAgentError) for cls in classes)
