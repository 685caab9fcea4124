"""The exception tree: every error the SDK raises has one root.

    VideoAgentError                   base of everything below
     +-- ConfigurationError           missing API key or base URL, bad option
     +-- InvalidRequestError          (also ValueError) refused before sending: a malformed id
     +-- WaitTimeoutError             (also TimeoutError) a wait() deadline passed
     +-- WatchStoppedError            the watch ended before the project finished
     +-- ProjectFailedError           wait(raise_on_failure=True) saw it failed or cancelled
     +-- APIError                     the API (or a download) failed; status, code, message,
         |                            request_id and retry_after where known
         +-- APIConnectionError       no usable answer: refused, reset, truncated
         |    +-- APITimeoutError     (also TimeoutError) the per-request timeout passed
         +-- APIResponseError         an answer that is not what the contract promises
         +-- APIStatusError           the server answered with an error status
         |    +-- ValidationError            400 validation_error (per-field ``errors``)
         |    +-- AuthenticationError        401 unauthorized
         |    +-- InsufficientCreditsError   402 insufficient_credits
         |    +-- PermissionDeniedError      403 forbidden
         |    +-- NotFoundError              404 not_found
         |    +-- ConflictError              409 conflict
         |    +-- PayloadTooLargeError       413 payload_too_large (also raised before
         |    |                                  sending a body over 1 MiB)
         |    +-- ProjectLimitError          429 project_limit (``kind``: concurrent, daily)
         |    +-- RateLimitError             429 rate_limited (``kind``: requests, renders_daily)
         |    +-- InternalServerError        500 internal_error
         |    +-- ServiceUnavailableError    503 service_unavailable
         +-- DownloadError            the video could not be fetched
              +-- ResultExpiredError       the pre-signed URL expired, even a fresh one
              +-- DownloadVerificationError size or sha256 differ from the result's

One warning sits beside the tree: ``InsecureBaseURLWarning`` (a ``UserWarning``),
given when the base URL is plain http to a host other than loopback.

An error answer maps to its class by the ``code`` of its body; a body that is not
JSON (or is truncated) still maps by its HTTP status. No message, repr or
attribute of these errors ever holds the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._models import Project

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "DownloadError",
    "DownloadVerificationError",
    "InsecureBaseURLWarning",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProjectFailedError",
    "ProjectLimitError",
    "RateLimitError",
    "ResultExpiredError",
    "ServiceUnavailableError",
    "ValidationError",
    "VideoAgentError",
    "WaitTimeoutError",
    "WatchStoppedError",
    "error_for_status",
]


class VideoAgentError(Exception):
    """Base of every error the SDK raises."""


class InsecureBaseURLWarning(UserWarning):
    """The base URL is plain http to a host other than loopback: the API key travels in clear.

    Pass ``allow_insecure=True`` to the client to say this is intended.
    """


class ConfigurationError(VideoAgentError):
    """The SDK is configured wrongly (missing API key or base URL, bad option)."""


class InvalidRequestError(VideoAgentError, ValueError):
    """A call the SDK refuses before sending anything (a malformed id, say)."""


class WaitTimeoutError(VideoAgentError, TimeoutError):
    """A ``wait()`` deadline passed before the project reached a terminal status."""

    def __init__(self, message: str, *, project_id: str | None = None) -> None:
        super().__init__(message)
        self.project_id = project_id


class WatchStoppedError(VideoAgentError):
    """A ``wait()`` ended without a terminal status: unwatched, or the watcher closed."""

    def __init__(self, message: str, *, project_id: str | None = None) -> None:
        super().__init__(message)
        self.project_id = project_id


class ProjectFailedError(VideoAgentError):
    """``wait(raise_on_failure=True)`` saw the project end ``failed`` or ``cancelled``.

    Attributes:
        project: the project as it ended.
        error_message: the server's reason (``project.error_message``), if any.
    """

    def __init__(self, message: str, *, project: Project) -> None:
        super().__init__(message)
        self.project = project
        self.error_message = project.error_message

    @property
    def project_id(self) -> str:
        """The project's id."""
        return self.project.id


class APIError(VideoAgentError):
    """The API (or a download) failed.

    Attributes:
        message: what went wrong, in words (the server's, when it sent some).
        status: the HTTP status, or ``None`` when no answer arrived.
        code: the contract's error code (``"rate_limited"``...), when known.
        request_id: the ``X-Request-Id`` of the answer; quote it to support.
        retry_after: the ``Retry-After`` in contract seconds, when sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        details = [
            f"{name} {value}"
            for name, value in (
                ("status", self.status),
                ("code", self.code),
                ("request_id", self.request_id),
                ("retry_after", self.retry_after),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r}, "
            f"retry_after={self.retry_after!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[APIError], message: str, state: dict[str, object]) -> APIError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class APIConnectionError(APIError):
    """No usable answer arrived: the connection was refused, reset or cut short."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """The per-request timeout passed before the answer was in."""


class APIResponseError(APIError):
    """The server answered, but not with what the contract promises (not JSON, wrong shape)."""


class APIStatusError(APIError):
    """The server answered with an error status; subclasses name the contract's codes."""


class ValidationError(APIStatusError):
    """400 ``validation_error``: ``errors`` maps each bad field to its reason."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, status=status, code=code, request_id=request_id, retry_after=retry_after
        )
        self.errors: Mapping[str, str] = parse_field_errors(message)


class AuthenticationError(APIStatusError):
    """401 ``unauthorized``: the API key is missing, wrong or revoked."""


class InsufficientCreditsError(APIStatusError):
    """402 ``insufficient_credits``: create needs 50 credits, a message 10."""


class PermissionDeniedError(APIStatusError):
    """403 ``forbidden``: not allowed, or the feature needs the Pro plan (4K)."""


class NotFoundError(APIStatusError):
    """404 ``not_found``: no such project or key (on this account)."""


class ConflictError(APIStatusError):
    """409 ``conflict``: the project's status does not allow this action now."""


class PayloadTooLargeError(APIStatusError):
    """413 ``payload_too_large``: the body is over 1 MiB (the SDK checks before sending)."""


#: A ``Retry-After`` longer than this (contract seconds) is a daily limit's: the
#: concurrent limits free within minutes, the daily ones at UTC midnight.
_DAILY_AFTER = 3600.0


def _mentions_a_day(message: str) -> bool:
    words = message.lower()
    return "a day" in words or "per day" in words or "daily" in words or "today" in words


class ProjectLimitError(APIStatusError):
    """429 ``project_limit``: 5 active projects, or the daily project limit.

    ``kind`` tells them apart: ``"daily"`` when the message speaks of a day or
    ``Retry-After`` is over an hour (the daily limit waits for UTC midnight),
    else ``"concurrent"`` (a slot frees when a project finishes).
    """

    @property
    def kind(self) -> Literal["concurrent", "daily"]:
        """Which limit: ``"concurrent"`` (active projects) or ``"daily"`` (projects a day)."""
        if _mentions_a_day(self.message) or (self.retry_after or 0.0) > _DAILY_AFTER:
            return "daily"
        return "concurrent"


class RateLimitError(APIStatusError):
    """429 ``rate_limited``: too many requests (or renders today); see ``retry_after``.

    ``kind`` tells them apart: ``"renders_daily"`` when the message speaks of
    renders or a day, or ``Retry-After`` is over an hour, else ``"requests"``
    (a slot of the 60 s window frees within a minute).
    """

    @property
    def kind(self) -> Literal["requests", "renders_daily"]:
        """Which limit: ``"requests"`` (per minute) or ``"renders_daily"`` (renders a day)."""
        words = self.message.lower()
        if "render" in words or _mentions_a_day(words) or (self.retry_after or 0.0) > _DAILY_AFTER:
            return "renders_daily"
        return "requests"


class InternalServerError(APIStatusError):
    """500 ``internal_error``: the server failed (retried by the SDK where safe)."""


class ServiceUnavailableError(APIStatusError):
    """503 ``service_unavailable``: try again after ``retry_after``."""


class DownloadError(APIError):
    """The result video could not be fetched."""


class ResultExpiredError(DownloadError):
    """The pre-signed URL answered 410 even after ``/result`` gave a fresh one."""


class DownloadVerificationError(DownloadError):
    """The downloaded bytes differ from the result's ``size_bytes`` or ``sha256``.

    Nothing is left at the destination path: the partial file is removed.
    """

    def __init__(
        self,
        message: str,
        *,
        expected_sha256: str,
        actual_sha256: str,
        expected_size: int,
        actual_size: int,
    ) -> None:
        super().__init__(message)
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        self.expected_size = expected_size
        self.actual_size = actual_size


_BY_CODE: Mapping[str, type[APIStatusError]] = MappingProxyType(
    {
        "validation_error": ValidationError,
        "unauthorized": AuthenticationError,
        "insufficient_credits": InsufficientCreditsError,
        "forbidden": PermissionDeniedError,
        "not_found": NotFoundError,
        "conflict": ConflictError,
        "payload_too_large": PayloadTooLargeError,
        "project_limit": ProjectLimitError,
        "rate_limited": RateLimitError,
        "internal_error": InternalServerError,
        "service_unavailable": ServiceUnavailableError,
    }
)

_BY_STATUS: Mapping[int, type[APIStatusError]] = MappingProxyType(
    {
        400: ValidationError,
        401: AuthenticationError,
        402: InsufficientCreditsError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        413: PayloadTooLargeError,
        429: RateLimitError,
        500: InternalServerError,
        503: ServiceUnavailableError,
    }
)


def error_for_status(
    status: int,
    *,
    code: str | None,
    message: str | None,
    request_id: str | None,
    retry_after: float | None,
) -> APIStatusError:
    """The exception for an error answer: by ``code`` when known, else by ``status``."""
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        cls = _BY_STATUS.get(status, APIStatusError)
    if not message:
        message = f"HTTP {status}" + (f" {code}" if code else "")
    return cls(message, status=status, code=code, request_id=request_id, retry_after=retry_after)


def parse_field_errors(message: str) -> Mapping[str, str]:
    """``"brief: brief is required; mode: bad"`` -> ``{"brief": ..., "mode": ...}``.

    A part without a ``field:`` prefix is kept under the empty key; the reasons of
    a field named twice are joined with ``"; "``.
    """
    errors: dict[str, str] = {}
    for part in message.split("; "):
        part = part.strip()  # noqa: PLW2901 - normalising the loop value is the point
        if not part:
            continue
        field, sep, reason = part.partition(": ")
        if not sep or not field or " " in field:
            field, reason = "", part
        errors[field] = f"{errors[field]}; {reason}" if field in errors else reason
    return MappingProxyType(errors)
