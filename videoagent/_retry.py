"""The retry layer: every API request of a client, within its budget, retried safely.

``Caller.call`` is the one path of every API request:

1. the request budget hands out a ticket (the watcher may bring its own
   ticket for the first attempt: ``via=ticket``);
2. ``HTTPTransport.send`` makes the attempt; the answer's ``X-RateLimit-*``
   headers go back to the budget, a 429's ``Retry-After`` pauses it;
3. failures are classified: *not applied* (refused connection, 429, 503) is
   always safe to send again; *ambiguous* (reset after the body went out, a
   timeout, 500, a garbled 2xx body) is resent only for idempotent requests,
   and for the others only after ``resend`` (a reconcile function) found the
   first one did not take effect;
4. waits are exponential backoff with full jitter, at least ``Retry-After``,
   each multiplied by ``time_scale``; a ``Retry-After`` beyond
   ``RetryPolicy.max_retry_wait`` raises at once.

Each answer's ``credits_warning`` goes to the ledger's ``credits`` topic.
With ``VIDEOAGENT_LOG=debug`` every attempt is logged (method, path, status,
request id, duration); at ``info``, retries and waits.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Final, TypeVar

import aiohttp
import anyio
import attrs
from multidict import CIMultiDictProxy

from ._arguments import check_encodable
from ._config import RetryPolicy
from ._converter import structure
from ._errors import (
    APIError,
    APIResponseError,
    APIStatusError,
    InvalidRequestError,
    PayloadTooLargeError,
    ProjectLimitError,
    RateLimitError,
    ServiceUnavailableError,
    error_for_status,
)
from ._ledger import Topic
from ._models import CreditsWarning
from ._seams import Budget, Priority, Ticket
from ._transport import MAX_BODY_BYTES, Failure, HTTPTransport, dumps

__all__ = ["Attempts", "Caller", "Extras", "RequestOptions", "capture_answer"]

logger: Final = logging.getLogger("videoagent")

T = TypeVar("T")

_RETRYABLE_AMBIGUOUS: Final = frozenset({500, 502, 504})


@attrs.frozen
class RequestOptions:
    """Per-client (or per ``with_options`` copy) request settings.

    Attributes:
        retry: backoff, retry count and the longest ``Retry-After`` worth waiting.
        timeout: contract seconds one attempt may take, answer included (for a
            download: the connect and each read; the whole transfer has its own
            deadline).
        time_scale: the client's; the real deadline is ``timeout * time_scale``.
    """

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    timeout: float = 30.0
    time_scale: float = 1.0
    client_timeout: aiohttp.ClientTimeout = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda self: aiohttp.ClientTimeout(total=self.timeout * self.time_scale),
            takes_self=True,
        ),
    )


@attrs.frozen
class Extras:
    """What one call adds to its request before ours (``extra_headers=...`` and friends).

    Ours win where both name the same thing: the auth headers, and the body
    fields and query parameters the call sets (the idempotency key among them).
    """

    headers: Mapping[str, str] | None = None
    query: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None

    @classmethod
    def of(
        cls,
        headers: Mapping[str, str] | None,
        query: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
    ) -> Extras | None:
        """The extras given (checked: nothing is sent, or waited for, with a bad one),
        or None for none (the usual call)."""
        if headers is None and query is None and body is None:
            return None
        _check_text_pairs("extra_headers", headers, headers=True)
        _check_text_pairs("extra_query", query, headers=False)
        if body is not None:
            try:
                dumps(body)
            except InvalidRequestError:  # text UTF-8 cannot encode: it says so
                raise
            except (TypeError, ValueError) as exc:  # not JSON
                raise InvalidRequestError(
                    f"extra_body cannot be sent as JSON: {exc} (nothing was sent)"
                ) from None
        return cls(headers, query, body)


class Attempts:
    """What ``Caller.call`` did with one request, for who holds a slot for it.

    ``in_flight``: an attempt went out and has no answer yet (true at the end
    if the call was cancelled, or its answer failed to parse, meanwhile);
    ``ambiguous``: the last attempt failed in a way that may hide an effect
    (no answer, a 5xx, a garbled 2xx). A clean refusal (4xx, 429, 503) clears
    it: for create, a replay of the key would have answered with the project;
    for the others, ``resend`` looked before that resend.
    """

    __slots__ = ("ambiguous", "in_flight")

    def __init__(self) -> None:
        self.in_flight = False
        self.ambiguous = False

    @property
    def may_have_acted(self) -> bool:
        """Whether the request may have taken effect although the call failed."""
        return self.in_flight or self.ambiguous


# -- raw answers (``with_raw_response``) --------------------------------------------


@attrs.define
class _Captured:
    status: int = 0
    headers: CIMultiDictProxy[str] | None = None


_CAPTURE: contextvars.ContextVar[_Captured | None] = contextvars.ContextVar(
    "videoagent_capture", default=None
)


@contextlib.contextmanager
def capture_answer() -> Generator[_Captured, None, None]:
    """Record the status and headers of the last successful answer of calls made inside."""
    captured = _Captured()
    token = _CAPTURE.set(captured)
    try:
        yield captured
    finally:
        _CAPTURE.reset(token)


# -- the caller ------------------------------------------------------------------------


class Caller:
    """Makes API calls through one transport and one request budget (see the module).

    Args:
        transport: the HTTP seam.
        budget: the account's request limiter.
        limited: whether the budget limits anything (else it is skipped entirely).
        credits: where each answer's ``credits_warning`` is published.
        time_scale: the client's.
    """

    def __init__(
        self,
        transport: HTTPTransport,
        budget: Budget,
        *,
        limited: bool,
        credits: Topic[CreditsWarning],
        time_scale: float,
    ) -> None:
        self.transport = transport
        self.budget = budget
        self._limited = limited
        self._credits = credits
        self.time_scale = time_scale
        self._random = random.Random()
        #: Attempts sent again after a failure, and 429 answers seen.
        self.retries = 0
        self.rate_limited = 0

    async def call(  # noqa: PLR0912, PLR0915 - every attempt in one loop: the hot path
        self,
        method: str,
        path: str,
        parse: Callable[[Any, str | None], T],
        *,
        options: RequestOptions,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        via: Priority | Ticket = Priority.USER,
        resend: bool | Callable[[], Awaitable[T | None]] = True,
        attempts: Attempts | None = None,
        extras: Extras | None = None,
    ) -> T:
        """One API call: ``parse(decoded_json, request_id)`` of its answer.

        ``via``: the budget priority to ask a ticket at, or a ticket already
        held for the first attempt (this call releases it, whatever happens). ``resend``: True
        for an idempotent request; False to raise after an ambiguous failure;
        or a reconcile function for one that is not idempotent: it returns the
        call's result if the first request took effect after all, or ``None``
        to send again. ``attempts`` records whether the request may have taken
        effect when it fails (for active-project slots). (Attempts run in this
        one coroutine, not a nested one: every poll passes here, and each level
        of nesting is paid again at each suspension.)
        """
        if extras is not None:
            body, params = _merged(extras.body, body), _merged(extras.query, params)
        data = dumps(body) if body is not None else None
        if data is not None and len(data) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(
                f"the request body is {len(data):,} bytes; the API accepts at most "
                f"{MAX_BODY_BYTES:,} (nothing was sent)",
                code="payload_too_large",
            )
        transport = self.transport
        if extras is None:  # (the usual call: no merging)
            headers = transport.get_headers if data is None else transport.body_headers
        else:
            headers = transport.headers_for(data, extras.headers)
        ticket: Ticket | None
        if isinstance(via, Ticket):
            ticket, priority = via, via.priority
        else:
            ticket, priority = None, via
        retry = options.retry
        attempt = 0
        while True:
            if ticket is None and self._limited:  # try_acquire: no coroutine when a slot is free
                transport.check_open()  # a closed client raises before taking a ticket
                ticket = self.budget.try_acquire(priority) or await self.budget.acquire(priority)
            started = time.perf_counter()
            status: int | None = None
            request_id: str | None = None
            counted = True  # the server counts the request against the limit
            try:
                if attempts is not None:
                    attempts.in_flight = True
                status, answer_headers, raw = await transport.send(
                    method,
                    path,
                    data=data,
                    params=params,
                    headers=headers,
                    client_timeout=options.client_timeout,
                    timeout_seconds=options.timeout,
                )
                request_id = answer_headers.get("X-Request-Id")
                if self._limited:
                    self._observe_limit(answer_headers)
                if status < 300:
                    result = parse(self._decode_success(raw, status, request_id), request_id)
                    captured = _CAPTURE.get()
                    if captured is not None:
                        captured.status, captured.headers = status, answer_headers
                    return result
                counted = status != 429
                failure = self._status_failure(status, raw, answer_headers, request_id, retry)
            except Failure as failed:  # no usable answer, or a 2xx body that is not JSON
                failure = failed
                counted = failure.ambiguous  # a refused connection never reached the server
                if status is None and failure.answered:  # the body broke off, say
                    status, request_id = failure.error.status, failure.error.request_id
            finally:
                if ticket is not None:
                    # No answer (timeout, cancelled): it may still arrive at the server later.
                    linger = 0.0 if status is not None else options.timeout
                    self.budget.release(ticket, counted=counted, linger=linger)
                    ticket = None
                if logger.isEnabledFor(logging.DEBUG):
                    _log_attempt(method, path, status, request_id, attempt=attempt, started=started)
            if attempts is not None:
                attempts.in_flight, attempts.ambiguous = False, failure.ambiguous
            settled = await self._recover(
                method, path, failure, attempt=attempt, retry=retry, resend=resend
            )
            if settled is not None:
                return settled
            attempt += 1
            self.retries += 1

    async def _recover(
        self,
        method: str,
        path: str,
        failure: Failure,
        *,
        attempt: int,
        retry: RetryPolicy,
        resend: bool | Callable[[], Awaitable[T | None]],
    ) -> T | None:
        """After a failed attempt: raise, or wait; the result if the reconcile function
        found it took effect, else ``None`` (send again)."""
        error = failure.error
        exhausted = not failure.retryable or attempt >= retry.max_retries
        if not failure.ambiguous or resend is True:
            if exhausted:
                raise error from error.__cause__
            await self._wait(
                method, path, error, retry=retry, attempt=attempt, retry_after=failure.retry_after
            )
            return None
        if resend is False:
            raise error from error.__cause__
        # Did it take effect? Look before sending again (or giving up).
        await self._wait(
            method, path, error, retry=retry, attempt=attempt, retry_after=failure.retry_after
        )
        settled = await resend()
        if settled is None and exhausted:
            raise error from error.__cause__
        return settled

    async def _wait(
        self,
        method: str,
        path: str,
        error: APIError,
        *,
        retry: RetryPolicy,
        attempt: int,
        retry_after: float | None,
    ) -> None:
        seconds = self.backoff(retry, attempt, retry_after)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s failed (%s); attempt %d in %.2f s",
                method,
                path,
                _reason(error),
                attempt + 2,
                seconds,
            )
        await anyio.sleep(seconds)

    def backoff(self, retry: RetryPolicy, attempt: int, retry_after: float | None) -> float:
        """Real seconds to wait before attempt ``attempt + 2``: full jitter, at least
        ``retry_after`` (contract seconds), scaled."""
        ceiling = min(retry.backoff_max, retry.backoff_base * 2.0**attempt)
        wait = self._random.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait * self.time_scale

    def _observe_limit(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        if remaining is not None:
            self.budget.observe(
                remaining=_header_int(remaining),
                reset=_header_float(headers.get("X-RateLimit-Reset")),
            )

    def _status_failure(
        self,
        status: int,
        raw: bytes,
        headers: Mapping[str, str],
        request_id: str | None,
        retry: RetryPolicy,
    ) -> Failure:
        retry_after = _header_float(headers.get("Retry-After"))
        error = error_from_answer(
            status, raw, request_id, retry_after, base_url=self.transport.base_url
        )
        if status == 429:
            self.rate_limited += 1
        if isinstance(error, RateLimitError | ServiceUnavailableError | ProjectLimitError):
            if retry_after is not None and retry_after > retry.max_retry_wait:
                return Failure(error, retryable=False, ambiguous=False)
            if isinstance(error, RateLimitError) and retry_after is not None:
                self.budget.pause(retry_after)
            # project_limit waits for a slot: the resource decides (create, message, render).
            retryable = not isinstance(error, ProjectLimitError)
            return Failure(error, retryable=retryable, ambiguous=False, retry_after=retry_after)
        if status in _RETRYABLE_AMBIGUOUS:
            return Failure(error, retryable=True, ambiguous=True, retry_after=retry_after)
        return Failure(error, retryable=False, ambiguous=False)

    def _decode_success(self, raw: bytes, status: int, request_id: str | None) -> Any:
        if not raw:
            return None
        try:
            data = _loads(raw.decode())  # UTF-8 by contract (a bad byte is a ValueError)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            error = APIResponseError(
                f"HTTP {status} with a body that is not JSON: {str(exc)[:200]}",
                status=status,
                request_id=request_id,
            )
            error.__cause__ = exc
            raise Failure(error, retryable=True, ambiguous=True) from exc
        if type(data) is dict and "credits_warning" in data and self._credits:
            self._warn_credits(data["credits_warning"], request_id)
        return data

    def _warn_credits(self, value: object, request_id: str | None) -> None:
        try:
            warning = structure(value, CreditsWarning, request_id=request_id)
        except APIResponseError:
            logger.warning("ignored a malformed credits_warning (request_id=%s)", request_id)
            return
        self._credits.publish(warning)


def _check_text_pairs(name: str, values: object, *, headers: bool) -> None:
    """``values`` maps text to text that can be sent (whatever its annotation said)."""
    if values is None:
        return
    if not isinstance(values, Mapping):
        raise InvalidRequestError(f"{name} must be a mapping (nothing was sent)")
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidRequestError(
                f"{name} maps str to str, got {key!r}: {type(value).__name__} (nothing was sent)"
            )
        check_encodable(key, f"{name} key {key[:40]!r}")
        check_encodable(value, f"{name}[{key[:40]!r}]")
        if headers and any(c in key + value for c in "\r\n\0"):
            raise InvalidRequestError(
                f"{name}[{key[:40]!r}] holds a line break or NUL (nothing was sent)"
            )


def _merged(extra: Mapping[str, Any] | None, ours: Mapping[str, Any] | None) -> Any:
    """The caller's extra fields under ours (ours win)."""
    if not extra:
        return ours
    return {**extra, **(ours or {})}


def _header_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _header_int(value: str | None) -> int | None:
    number = _header_float(value)
    return int(number) if number is not None and number < 1e9 else None


#: The longest integer an answer may hold, in digits: Python's own default guard
#: (``sys.get_int_max_str_digits``), kept even where an app turns that off (a
#: conversion costs the square of the digits: a 4 MiB figure would take minutes).
_MAX_INT_DIGITS: Final = 4_300


def _bounded_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text):,} digits (at most {_MAX_INT_DIGITS:,})")
    return int(text)


_DECODER: Final = json.JSONDecoder(parse_int=_bounded_int)


def _loads(text: str) -> Any:
    """``json.loads(text)`` (integers bounded), without its two whitespace regexes for
    the usual answer.

    ``raw_decode`` reads a document that starts at once; when anything surrounds
    it (whitespace, or junk) ``decode`` decides, and says what is wrong.
    """
    try:
        data, end = _DECODER.raw_decode(text)
    except ValueError:
        return _DECODER.decode(text)
    return data if end == len(text) else _DECODER.decode(text)


def _reason(error: APIError) -> str:
    return f"HTTP {error.status}" if error.status is not None else type(error).__name__


def _log_attempt(
    method: str,
    path: str,
    status: int | None,
    request_id: str | None,
    *,
    attempt: int,
    started: float,
) -> None:
    logger.debug(
        "%s %s -> %s attempt=%d elapsed=%.1fms request_id=%s",
        method,
        path,
        status if status is not None else "no answer",
        attempt + 1,
        (time.perf_counter() - started) * 1000.0,
        request_id,
    )


def error_from_answer(
    status: int,
    raw: bytes,
    request_id: str | None,
    retry_after: float | None,
    *,
    base_url: str,
) -> APIStatusError:
    """The SDK error for an error answer: by its body's ``code``, else by its status.

    A 404 without the API's error body means the base URL does not lead to the
    API (a missing ``/v1``, another server): the message says so, with the URL.
    """
    code: str | None = None
    message: str | None = None
    try:
        body = _loads(raw.decode())
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err: dict[str, Any] = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        if request_id is None and isinstance(err.get("request_id"), str):
            request_id = err["request_id"]
    if 300 <= status < 400:
        message = f"HTTP {status}: the API redirected; redirects of API requests are not followed"
    elif status == 404 and code is None:
        message = (
            f"{base_url} answered 404 without the API's error body: is it the video-agent "
            "API's base URL (ending in /v1)?"
        )
    return error_for_status(
        status, code=code, message=message, request_id=request_id, retry_after=retry_after
    )
