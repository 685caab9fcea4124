"""All HTTP of the SDK: the session, auth, the limiter, retries, errors, headers.

``Transport.call`` is the one seam every API request passes:

1. the request budget hands out a ticket (the limiter; the watcher may bring
   its own ticket for the first attempt);
2. the request goes out with ``Authorization: Bearer``; the answer's
   ``X-RateLimit-*`` headers go back to the budget, a 429's ``Retry-After``
   pauses it;
3. failures are classified: *not applied* (refused connection, 429, 503) is
   always safe to send again; *ambiguous* (reset after the body went out, a
   timeout, 500, a garbled 2xx body) is resent only for idempotent requests,
   and for the others only after ``reconcile`` found the first one did not
   take effect;
4. waits are exponential backoff with full jitter, at least ``Retry-After``,
   each multiplied by ``time_scale``; a ``Retry-After`` beyond
   ``RetryPolicy.max_retry_wait`` raises at once.

Downloads of a result's pre-signed URL go through ``download`` instead: no
auth header (on redirects neither), no budget ticket, only http(s) redirects,
never from https down to http.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import anyio
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import __version__
from ._config import Limits, RetryPolicy, resolve_backend
from ._converter import structure
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    DownloadError,
    PayloadTooLargeError,
    ProjectLimitError,
    RateLimitError,
    ServiceUnavailableError,
    error_for_status,
)
from ._limiter import (
    ActiveSlots,
    Budget,
    Priority,
    RequestBudget,
    SharedLimits,
    Slots,
    Ticket,
)
from ._models import CreditsWarning, Project, redact_key

__all__ = ["MAX_BODY_BYTES", "Attempts", "RequestOptions", "Transport", "new_session"]

logger: Final = logging.getLogger("videoagent")

T = TypeVar("T")

#: The contract's largest request body (1 MiB); larger bodies are refused before sending.
MAX_BODY_BYTES: Final = 1_048_576
_MAX_REDIRECTS: Final = 10
_USER_AGENT: Final = f"videoagent-python/{__version__}"
_RETRYABLE_AMBIGUOUS: Final = frozenset({500, 502, 504})
#: Projects whose newest ``updated_at`` is remembered (to drop overtaken answers).
_TRACKED_PROJECTS: Final = 50_000


@attrs.frozen
class RequestOptions:
    """Per-client (or per ``with_options`` copy) request settings.

    Attributes:
        retry: backoff, retry count and the longest ``Retry-After`` worth waiting.
        timeout: contract seconds one attempt may take, answer included (for a
            download: the connect and each read, not the whole transfer).
        time_scale: the client's; the real deadline is ``timeout * time_scale``.
    """

    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    timeout: float = 30.0
    time_scale: float = 1.0
    client_timeout: aiohttp.ClientTimeout = attrs.field(init=False, eq=False, repr=False)
    download_timeout: aiohttp.ClientTimeout = attrs.field(init=False, eq=False, repr=False)

    @client_timeout.default
    def _client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.timeout * self.time_scale)

    @download_timeout.default
    def _download_timeout(self) -> aiohttp.ClientTimeout:
        # A video may take long as a whole: bound the connect and each read instead.
        seconds = self.timeout * self.time_scale
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


class Attempts:
    """What ``Transport.call`` did with one request, for who holds a slot for it.

    ``in_flight``: an attempt went out and has no answer yet (true at the end
    if the call was cancelled, or its answer failed to parse, meanwhile);
    ``ambiguous``: the last attempt failed in a way that may hide an effect
    (no answer, a 5xx, a garbled 2xx). A clean refusal (4xx, 429, 503) clears
    it: for create, a replay of the key would have answered with the project;
    for the others, ``reconcile`` looked before that resend.
    """

    __slots__ = ("ambiguous", "in_flight")

    def __init__(self) -> None:
        self.in_flight = False
        self.ambiguous = False

    @property
    def may_have_acted(self) -> bool:
        """Whether the request may have taken effect although the call failed."""
        return self.in_flight or self.ambiguous


class _Failure(Exception):
    """One failed attempt: the error to raise and how it may be retried."""

    def __init__(
        self,
        error: APIError,
        *,
        retryable: bool,
        ambiguous: bool,  # the request may have taken effect
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class _Secret:
    """Holds the API key; its repr never shows more than ``es_live_…last4``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return redact_key(self._value)

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("an API key is not picklable")


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
    return int(number) if number is not None else None


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class Transport:
    """One aiohttp session, one request budget and the active slots of a client.

    Shared by a client and its ``with_options`` copies; the client that built it
    closes it. A session passed in by the caller is used but never closed.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        time_scale: float,
        limits: Limits,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not time_scale > 0:
            raise ConfigurationError(f"time_scale must be > 0, got {time_scale!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("base_url must be an http:// or https:// URL")
        self._key = _Secret(api_key)
        self._base_url = base_url.rstrip("/")
        self._base_host = URL(self._base_url).origin()
        self.time_scale = time_scale
        self.limits = limits
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._limited = limits.requests is not None  # else the budget is skipped entirely
        self.credits_listeners: list[Callable[[CreditsWarning], object]] = []
        self.project_listeners: list[Callable[[Project], object]] = []
        #: Fleet mode (``Limits.backend``): the limits live outside the process.
        self.fleet: SharedLimits | None = None
        self.budget: Budget
        self.slots: Slots
        backend = resolve_backend(limits)
        if backend is None:
            self.budget = RequestBudget(limits, time_scale=time_scale)
            #: Unknown active projects of the account hold a slot 30 contract seconds.
            self.slots = ActiveSlots(limits.active_projects, foreign_ttl=30.0 * time_scale)
        else:
            self.fleet = backend.connect(
                api_key=api_key, limits=limits, time_scale=time_scale, timeout=timeout
            )
            self.budget, self.slots = self.fleet.budget, self.fleet.slots
            self.fleet.attach(self.observe_project)
            self.project_listeners.append(self.fleet.share_project)
        self._updated: dict[str, datetime] = {}  # project id -> newest updated_at seen
        self._random = random.Random()
        auth = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        json_type = {"Content-Type": "application/json"}
        # Headers per request: the session's defaults are merged in by aiohttp, and a
        # read-only multidict is merged without a conversion. Our own API session
        # carries the auth headers as its defaults (nothing to merge on a GET), and
        # downloads get a session of their own that never holds the key. A session
        # passed in serves both: then each API request brings the auth headers.
        self._session_defaults: dict[str, str] | None
        self._get_headers: CIMultiDictProxy[str] | None
        self._download_session: aiohttp.ClientSession | None = session
        if self._owns_session:
            self._session_defaults, self._get_headers = auth, None
            self._body_headers = CIMultiDictProxy(CIMultiDict(json_type))
        else:
            self._session_defaults, self._get_headers = None, CIMultiDictProxy(CIMultiDict(auth))
            self._body_headers = CIMultiDictProxy(CIMultiDict({**auth, **json_type}))

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r}, api_key={self._key!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def redacted_key(self) -> str:
        return repr(self._key)

    def overtaken(self, project: Project) -> bool:
        """Whether a newer answer about ``project`` has been parsed than this one."""
        seen = self._updated.get(project.id)
        return seen is not None and project.updated_at < seen

    def observe_project(self, project: Project) -> None:
        """Every Project the client parses passes here: slots, then listeners (the watcher).

        An answer overtaken by a newer one (a poll answered before a message
        re-activated the project, but read after it) is ignored: by
        ``updated_at``, for the last ``_TRACKED_PROJECTS`` projects seen.
        """
        updated, pid, stamp = self._updated, project.id, project.updated_at
        seen = updated.pop(pid, None)
        if seen is not None and stamp < seen:
            updated[pid] = seen
            return
        updated[pid] = stamp
        if len(updated) > _TRACKED_PROJECTS:
            del updated[next(iter(updated))]  # the least recently seen
        self.slots.observe(pid, active=project.status.is_active)
        for listener in self.project_listeners:
            listener(project)

    # -- the session ---------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        """The session of API requests (created on first use)."""
        if self._closed:
            raise ConfigurationError("the client is closed")
        if self._session is None:
            self._session = new_session(self._session_defaults)
        return self._session

    def _get_download_session(self) -> aiohttp.ClientSession:
        """The session of downloads: never one that holds the key in its defaults."""
        if self._closed:
            raise ConfigurationError("the client is closed")
        if self._download_session is None:
            self._download_session = new_session(None)
        return self._download_session

    async def open(self) -> None:
        """Create the session now (otherwise the first request does)."""
        self._get_session()

    async def aclose(self) -> None:
        """Close the sessions this transport opened; idempotent."""
        self._closed = True
        sessions = (self._session, self._download_session)
        self._session = self._download_session = None
        if not self._owns_session:
            return
        with anyio.CancelScope(shield=True):
            for session in sessions:
                if session is not None and not session.closed:
                    await session.close()

    # -- API requests --------------------------------------------------------

    async def call(  # noqa: PLR0912 - every attempt in one loop: the hot path
        self,
        method: str,
        path: str,
        parse: Callable[[Any, str | None], T],
        *,
        options: RequestOptions,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        priority: Priority = Priority.USER,
        ticket: Ticket | None = None,
        idempotent: bool = True,
        reconcile: Callable[[], Awaitable[T | None]] | None = None,
        attempts: Attempts | None = None,
    ) -> T:
        """One API call: ``parse(decoded_json, request_id)`` of its answer.

        See the module docstring for retries. ``reconcile`` (for requests that
        are not idempotent) runs after an ambiguous failure: it returns the
        call's result if the first request took effect after all, or ``None``
        to send again. Without it, an ambiguous failure of a non-idempotent
        request raises. ``attempts`` records whether it may have taken effect
        when it fails (for active-project slots). (Attempts run in this one
        coroutine, not a nested one: every poll passes here, and each level of
        nesting is paid again at each suspension.)
        """
        data = _dumps(body) if body is not None else None
        if data is not None and len(data) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(
                f"the request body is {len(data):,} bytes; the API accepts at most "
                f"{MAX_BODY_BYTES:,} (nothing was sent)",
                code="payload_too_large",
            )
        url = self._base_url + path  # ids are checked and quoted; yarl caches the parse
        headers = self._get_headers if data is None else self._body_headers
        retry = options.retry
        attempt = 0
        while True:
            session = self._get_session()  # a closed client raises before taking a ticket
            if ticket is None and self._limited:  # try_acquire: no coroutine when a slot is free
                ticket = self.budget.try_acquire(priority) or await self.budget.acquire(priority)
            started = time.perf_counter()
            status: int | None = None
            request_id: str | None = None
            counted = True  # the server counts the request against the limit
            try:
                if attempts is not None:
                    attempts.in_flight = True
                async with session.request(
                    method,
                    url,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=options.client_timeout,
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    answer_headers = resp.headers
                    request_id = answer_headers.get("X-Request-Id")
                    if self._limited:
                        self._observe_limit(answer_headers)
                    raw = await resp.read()
                if status < 300:
                    return parse(self._decode_success(raw, status, request_id), request_id)
                counted = status != 429
                failure = self._status_failure(status, raw, answer_headers, request_id, retry)
            except _Failure as garbled:  # a 2xx answer whose body is not JSON
                failure = garbled
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failure = self._exception_failure(exc, status, request_id, options.timeout)
                counted = failure.ambiguous  # a refused connection never reached the server
            finally:
                if ticket is not None:
                    # No answer (timeout, cancelled): it may still arrive at the server later.
                    linger = 0.0 if status is not None else options.timeout
                    self.budget.release(ticket, counted=counted, linger=linger)
                    ticket = None
                if logger.isEnabledFor(logging.DEBUG):
                    _log_attempt(
                        method,
                        path,
                        status=status,
                        attempt=attempt,
                        started=started,
                        request_id=request_id,
                    )
            if attempts is not None:
                attempts.in_flight, attempts.ambiguous = False, failure.ambiguous
            settled = await self._recover(failure, attempt, retry, idempotent, reconcile)
            if settled is not None:
                return settled
            attempt += 1

    async def _recover(
        self,
        failure: _Failure,
        attempt: int,
        retry: RetryPolicy,
        idempotent: bool,
        reconcile: Callable[[], Awaitable[T | None]] | None,
    ) -> T | None:
        """After a failed attempt: raise, or wait; the result if ``reconcile`` found it took
        effect, else ``None`` (send again)."""
        error = failure.error
        exhausted = not failure.retryable or attempt >= retry.max_retries
        if not failure.ambiguous or idempotent:
            if exhausted:
                raise error from error.__cause__
            await anyio.sleep(self._backoff(retry, attempt, failure.retry_after))
            return None
        if reconcile is None:
            raise error from error.__cause__
        # Did it take effect? Look before sending again (or giving up).
        await anyio.sleep(self._backoff(retry, attempt, failure.retry_after))
        settled = await reconcile()
        if settled is None and exhausted:
            raise error from error.__cause__
        return settled

    def _backoff(self, retry: RetryPolicy, attempt: int, retry_after: float | None) -> float:
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
    ) -> _Failure:
        retry_after = _header_float(headers.get("Retry-After"))
        error = _error_from_answer(status, raw, request_id, retry_after)
        if isinstance(error, RateLimitError | ServiceUnavailableError | ProjectLimitError):
            if retry_after is not None and retry_after > retry.max_retry_wait:
                return _Failure(error, retryable=False, ambiguous=False)
            if isinstance(error, RateLimitError) and retry_after is not None:
                self.budget.pause(retry_after)
            # project_limit waits for a slot: the resource decides (create, message, render).
            retryable = not isinstance(error, ProjectLimitError)
            return _Failure(error, retryable=retryable, ambiguous=False, retry_after=retry_after)
        if status in _RETRYABLE_AMBIGUOUS:
            return _Failure(error, retryable=True, ambiguous=True, retry_after=retry_after)
        return _Failure(error, retryable=False, ambiguous=False)

    def _exception_failure(
        self, exc: Exception, status: int | None, request_id: str | None, timeout: float
    ) -> _Failure:
        error: APIError
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            # The request never reached the server: always safe to send again.
            error = APIConnectionError(f"could not connect to {self._base_host}: {exc}")
            return _Failure(_caused(error, exc), retryable=True, ambiguous=False)
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            error = APITimeoutError(f"no answer within {timeout} s", status=status)
        else:
            error = APIConnectionError(
                f"the connection failed: {type(exc).__name__}: {exc}",
                status=status,
                request_id=request_id,
            )
        return _Failure(_caused(error, exc), retryable=True, ambiguous=True)

    def _decode_success(self, raw: bytes, status: int, request_id: str | None) -> Any:
        if not raw:
            return None
        try:
            data = _loads(raw.decode())  # UTF-8 by contract (a bad byte is a ValueError)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            error = APIResponseError(
                f"HTTP {status} with a body that is not JSON", status=status, request_id=request_id
            )
            raise _Failure(_caused(error, exc), retryable=True, ambiguous=True) from exc
        if type(data) is dict and "credits_warning" in data and self.credits_listeners:
            self._warn_credits(data["credits_warning"], request_id)
        return data

    def _warn_credits(self, value: object, request_id: str | None) -> None:
        try:
            warning = structure(value, CreditsWarning, request_id=request_id)
        except APIResponseError:
            logger.warning("ignored a malformed credits_warning (request_id=%s)", request_id)
            return
        for listener in list(self.credits_listeners):
            listener(warning)

    # -- downloads -----------------------------------------------------------

    async def download(
        self, url: str, destination: Path, *, options: RequestOptions
    ) -> tuple[int, str]:
        """Stream ``url`` (no auth header) into ``destination``; its size and sha256.

        Retries connection failures like any idempotent request. A 410 raises
        ``DownloadError`` with ``status=410`` for the caller to fetch a fresh URL.
        """
        retry = options.retry
        attempt = 0
        while True:
            try:
                return await self._download_once(url, destination, options)
            except _Failure as failure:
                if not failure.retryable or attempt >= retry.max_retries:
                    raise failure.error from failure.error.__cause__
                await anyio.sleep(self._backoff(retry, attempt, failure.retry_after))
                attempt += 1

    async def _download_once(
        self, signed: str, destination: Path, options: RequestOptions
    ) -> tuple[int, str]:
        session = self._get_download_session()
        headers = {"User-Agent": _USER_AGENT}  # never Authorization: the URL is pre-signed
        started = time.perf_counter()
        try:
            url = URL(signed)
            for _ in range(_MAX_REDIRECTS + 1):
                if url.scheme not in ("http", "https"):
                    raise _Failure(
                        DownloadError(f"refused a redirect to a {url.scheme or 'relative'} URL"),
                        retryable=False,
                        ambiguous=False,
                    )
                async with session.get(
                    url, headers=headers, timeout=options.download_timeout, allow_redirects=False
                ) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        target = url.join(URL(resp.headers["Location"]))
                        if url.scheme == "https" and target.scheme == "http":
                            raise _Failure(
                                DownloadError("refused a redirect from https down to plain http"),
                                retryable=False,
                                ambiguous=False,
                            )
                        url = target
                        continue
                    self._log_download(url, resp.status, started)
                    if resp.status != 200:
                        retry_after = _header_float(resp.headers.get("Retry-After"))
                        error = DownloadError(
                            f"the video URL answered HTTP {resp.status}",
                            status=resp.status,
                            retry_after=retry_after,
                        )
                        retryable = resp.status >= 500 or resp.status == 429
                        raise _Failure(
                            error, retryable=retryable, ambiguous=False, retry_after=retry_after
                        )
                    return await _stream_to(resp, destination)
            raise _Failure(
                DownloadError(f"more than {_MAX_REDIRECTS} redirects"),
                retryable=False,
                ambiguous=False,
            )
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            error = DownloadError(f"the download failed: {type(exc).__name__}: {exc}")
            raise _Failure(_caused(error, exc), retryable=True, ambiguous=False) from exc
        except ValueError as exc:  # a malformed URL or Location (yarl)
            error = DownloadError(f"the video URL is malformed: {exc}")
            raise _Failure(_caused(error, exc), retryable=False, ambiguous=False) from exc

    def _log_download(self, url: URL, status: int, started: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "GET %s%s (download) -> %s elapsed=%.1fms",
                url.origin(),
                url.path,
                status,
                (time.perf_counter() - started) * 1000.0,
            )


async def _stream_to(resp: aiohttp.ClientResponse, destination: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async with await anyio.open_file(destination, "wb") as file:
        async for chunk in resp.content.iter_chunked(1 << 16):
            digest.update(chunk)
            size += len(chunk)
            await file.write(chunk)
    return size, digest.hexdigest()


def new_session(
    headers: Mapping[str, str] | None = None,
    *,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
) -> aiohttp.ClientSession:
    """An aiohttp session as the SDK makes its own (the batch runner's counted one too)."""
    session = aiohttp.ClientSession(
        headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=aiohttp.TCPConnector(limit=100),
        trace_configs=trace_configs,
    )
    # aiohttp (3.10+) quietly sends a GET, PUT or DELETE again when its connection
    # drops: a second request on one budget ticket (a 429 of our own at the limit),
    # and a DELETE resent without reconcile. The SDK retries those itself, with a
    # ticket per attempt. No public switch exists; tests/client pins this one.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False
    return session


_DECODER: Final = json.JSONDecoder()


def _loads(text: str) -> Any:
    """``json.loads(text)``, without its two whitespace regexes for the usual answer.

    ``raw_decode`` reads a document that starts at once; when anything surrounds
    it (whitespace, or junk) ``json.loads`` decides, and says what is wrong.
    """
    try:
        data, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)
    return data if end == len(text) else json.loads(text)


def _log_attempt(
    method: str,
    path: str,
    *,
    status: int | None,
    attempt: int,
    started: float,
    request_id: str | None,
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


def _caused(error: APIError, cause: BaseException) -> APIError:
    error.__cause__ = cause
    return error


def _error_from_answer(
    status: int, raw: bytes, request_id: str | None, retry_after: float | None
) -> APIStatusError:
    code: str | None = None
    message: str | None = None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        if request_id is None and isinstance(err.get("request_id"), str):
            request_id = err["request_id"]
    if 300 <= status < 400:
        message = f"HTTP {status}: the API redirected; redirects of API requests are not followed"
    return error_for_status(
        status, code=code, message=message, request_id=request_id, retry_after=retry_after
    )
