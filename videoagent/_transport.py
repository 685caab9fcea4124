"""The HTTP seam: one method, ``HTTPTransport.send``, between the SDK and aiohttp.

``send`` makes one attempt of one API request and returns its answer as
``(status, headers, body)``; it knows nothing of budgets, retries or
models (``_retry`` does). What it does own:

- the aiohttp session of API requests, with ``Authorization: Bearer`` (the
  key is held in a ``_Secret`` whose repr shows ``es_live_…last4`` at most),
  the client's ``default_headers`` under ours, and the caller's own session
  if given (never closed here);
- the answer's size: at most ``MAX_ANSWER_BYTES``, decompressed; a longer
  or endless body ends in ``APIResponseError`` without being read into
  memory;
- what went wrong, classified for the retry layer as a ``Failure``: *not
  sent* (the connection was refused: safe to send again) or *ambiguous*
  (reset, timeout: it may have reached the server).

Sessions follow httpx's convention: proxies (``HTTPS_PROXY``, ``HTTP_PROXY``,
``NO_PROXY``) and certificates (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) come
from the environment unless ``trust_env=False``. (Not aiohttp's own
``trust_env``: it looks the proxy and ``~/.netrc`` up in a thread on every
request, and a netrc entry for the API's host would clash with our auth.
The proxy is looked up once per client.) Downloads of pre-signed
URLs use a second session that never holds the key (``_download``).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import anyio
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import resolve_proxy
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APITimeoutError,
    ConfigurationError,
    InvalidRequestError,
)
from ._models import redact_key
from ._version import __version__

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_BODY_BYTES",
    "USER_AGENT",
    "Answer",
    "Failure",
    "HTTPTransport",
    "SessionHolder",
    "dumps",
    "new_session",
]

#: The contract's largest request body (1 MiB); larger bodies are refused before sending.
MAX_BODY_BYTES: Final = 1_048_576
#: The largest API answer read (decompressed); the contract's are a few KiB.
MAX_ANSWER_BYTES: Final = 4 * 1_048_576
USER_AGENT: Final = f"videoagent-python/{__version__}"
#: A ``Content-Length`` of fewer digits is under a MiB: well within ``MAX_ANSWER_BYTES``
#: (checked by its length, not parsed: every answer passes here).
_SHORT_DIGITS: Final = 7

#: One attempt's answer: status, headers, body.
Answer = tuple[int, "CIMultiDictProxy[str]", bytes]


class Failure(Exception):
    """One failed attempt: the error to raise and how it may be retried.

    Attributes:
        error: the SDK error to raise if the attempt is not retried.
        retryable: sending again may help.
        ambiguous: the request may have taken effect all the same.
        retry_after: contract seconds the server asked to wait.
        answered: an answer (a status line) arrived.
    """

    def __init__(
        self,
        error: APIError,
        *,
        retryable: bool,
        ambiguous: bool,
        retry_after: float | None = None,
        answered: bool = True,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after
        self.answered = answered


class _Secret:
    """Holds the API key; its repr never shows more than ``es_live_…last4``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return redact_key(self._value)

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("an API key is not picklable")


def dumps(body: Mapping[str, Any]) -> bytes:
    """A request body as compact UTF-8 JSON; ``InvalidRequestError`` for text UTF-8 cannot
    encode (the arguments are checked by name first: this catches ``extra_body``)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"the request body holds a character UTF-8 cannot encode ({text[exc.start]!r}, "
            "a lone surrogate?) (nothing was sent)"
        ) from None


class HTTPTransport:
    """The API's HTTP: one session, auth, headers, bounded answers (see the module).

    Shared by a client and its ``with_options`` copies; the client that made
    it closes it. A session passed in is used but never closed.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
        default_headers: Mapping[str, str] | None = None,
        trust_env: bool = True,
    ) -> None:
        self._key = _Secret(api_key)
        self._base_url = base_url.rstrip("/")
        self.origin = URL(self._base_url).origin()
        self._proxy = resolve_proxy(self._base_url) if trust_env else None
        ours = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._default_headers = dict(default_headers or {})
        auth = {**self._default_headers, **ours}  # ours win (auth above all)
        json_type = {"Content-Type": "application/json"}
        # Headers per request: aiohttp merges in the session's defaults, and takes a
        # read-only multidict without a conversion. Our own API session carries the
        # auth headers as its defaults (nothing to merge on a GET); a session passed
        # in gets them with each request.
        self._session_defaults: dict[str, str] | None
        #: The headers of a request without a body, and of one with a JSON body.
        self.get_headers: CIMultiDictProxy[str] | None
        if session is None:
            self._session_defaults, self.get_headers = auth, None
            self.body_headers = CIMultiDictProxy(CIMultiDict(json_type))
        else:
            self._session_defaults, self.get_headers = None, CIMultiDictProxy(CIMultiDict(auth))
            self.body_headers = CIMultiDictProxy(CIMultiDict({**auth, **json_type}))
        self._session = SessionHolder(session, self._session_defaults, trust_env=trust_env)
        self._ours = ours  # (what extra headers never replace)

    def __repr__(self) -> str:
        return f"HTTPTransport(base_url={self._base_url!r}, api_key={self._key!r})"

    @property
    def base_url(self) -> str:
        """The API's base URL (no trailing slash)."""
        return self._base_url

    @property
    def redacted_key(self) -> str:
        """The API key as logs and reprs may show it."""
        return repr(self._key)

    def check_open(self) -> None:
        """Raise ``ConfigurationError`` if the client is closed."""
        self._session.check_open()

    async def open(self) -> None:
        """Create the session now (otherwise the first request does)."""
        self._session.get()

    async def aclose(self) -> None:
        """Close the session if this transport opened it; idempotent."""
        await self._session.aclose()

    def headers_for(
        self, data: bytes | None, extra: Mapping[str, str] | None
    ) -> CIMultiDictProxy[str] | None:
        """The headers of one request: the caller's ``extra`` ones under ours."""
        headers = self.get_headers if data is None else self.body_headers
        if not extra:
            return headers
        merged = CIMultiDict(extra)
        merged.update(self._ours)
        if data is not None:
            merged["Content-Type"] = "application/json"
        return CIMultiDictProxy(merged)

    # -- one attempt ---------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None,
        params: Mapping[str, str] | None,
        headers: CIMultiDictProxy[str] | None,
        client_timeout: aiohttp.ClientTimeout,
        timeout_seconds: float,
    ) -> Answer:
        """One attempt: ``(status, headers, body)``; a ``Failure`` when no usable answer came.

        ``path`` is appended to the base URL (ids in it are checked and quoted
        by the resources). Redirects are not followed. ``timeout_seconds`` is
        the contract seconds ``client_timeout`` stands for (for the error message).
        """
        session = self._session.get()  # a closed client raises before anything is sent
        status: int | None = None
        request_id: str | None = None
        try:
            async with session.request(
                method,
                self._base_url + path,
                data=data,
                params=params,
                headers=headers,
                timeout=client_timeout,
                allow_redirects=False,
                proxy=self._proxy,
            ) as resp:
                status = resp.status
                answer_headers = resp.headers
                request_id = answer_headers.get("X-Request-Id")
                length = answer_headers.get("Content-Length")
                if (
                    length is not None
                    and len(length) < _SHORT_DIGITS
                    and "Content-Encoding" not in answer_headers
                ):  # the usual answer, under a MiB as its digits say: read at once, inline
                    return status, answer_headers, await resp.read()
                return status, answer_headers, await _read_bounded(resp, request_id)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise self._failure(exc, status, request_id, timeout_seconds) from exc

    def _failure(
        self, exc: Exception, status: int | None, request_id: str | None, timeout: float
    ) -> Failure:
        error: APIError
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            # The request never reached the server: always safe to send again.
            error = APIConnectionError(f"could not connect to {self.origin}: {exc}")
            return Failure(_caused(error, exc), retryable=True, ambiguous=False, answered=False)
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            error = APITimeoutError(f"no answer within {timeout} s", status=status)
        else:
            error = APIConnectionError(
                f"the connection failed: {type(exc).__name__}: {exc}",
                status=status,
                request_id=request_id,
            )
        return Failure(
            _caused(error, exc), retryable=True, ambiguous=True, answered=status is not None
        )


async def _read_bounded(resp: aiohttp.ClientResponse, request_id: str | None) -> bytes:
    """The body of an answer of unknown, compressed or announced-too-long length, if at most
    ``MAX_ANSWER_BYTES`` (decompressed); else a ``Failure``."""
    length = resp.content_length
    if length is not None and length > MAX_ANSWER_BYTES:
        raise _too_long(resp.status, request_id, f"announces {length:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _too_long(resp.status, request_id, "goes on")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_long(status: int, request_id: str | None, how: str) -> Failure:
    error = APIResponseError(
        f"HTTP {status} with a body that {how} past {MAX_ANSWER_BYTES:,} bytes (not read)",
        status=status,
        request_id=request_id,
    )
    # Not retryable (it would be as long again); the request may have acted all the same.
    return Failure(error, retryable=False, ambiguous=True)


class SessionHolder:
    """An aiohttp session made on first use (``new_session`` with these settings) and
    closed with its holder, or the caller's own (used, never closed here)."""

    def __init__(
        self,
        given: aiohttp.ClientSession | None,
        headers: Mapping[str, str] | None,
        *,
        trust_env: bool,
        auto_decompress: bool = True,
    ) -> None:
        self._session = given
        self._owned = given is None
        self._settings = (headers, trust_env, auto_decompress)
        self._closed = False

    def check_open(self) -> None:
        """Raise ``ConfigurationError`` once closed."""
        if self._closed:
            raise ConfigurationError("the client is closed")

    def get(self) -> aiohttp.ClientSession:
        """The session (made now if need be)."""
        session = self._session
        if session is None or self._closed:
            self.check_open()
            headers, trust_env, auto_decompress = self._settings
            session = self._session = new_session(
                headers, trust_env=trust_env, auto_decompress=auto_decompress
            )
        return session

    async def aclose(self) -> None:
        """Close the session if it was made here; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if self._owned and session is not None and not session.closed:
            with anyio.CancelScope(shield=True):
                await session.close()


def _caused(error: APIError, cause: BaseException) -> APIError:
    error.__cause__ = cause
    return error


def new_session(
    headers: Mapping[str, str] | None = None,
    *,
    trust_env: bool = True,
    auto_decompress: bool = True,
    trace_configs: list[aiohttp.TraceConfig] | None = None,
) -> aiohttp.ClientSession:
    """An aiohttp session as the SDK makes its own (the batch's counted one too).

    ``trust_env``: certificates from ``SSL_CERT_FILE``/``SSL_CERT_DIR`` too
    (else the system's own only); proxies are passed per request
    (``resolve_proxy``).
    """
    connector = aiohttp.TCPConnector(limit=100, ssl=True if trust_env else _system_ssl())
    session = aiohttp.ClientSession(
        headers=headers,
        cookie_jar=aiohttp.DummyCookieJar(),
        connector=connector,
        trace_configs=trace_configs,
        auto_decompress=auto_decompress,
    )
    # aiohttp (3.10+) quietly sends a GET, PUT or DELETE again when its connection
    # drops: a second request on one budget ticket (a 429 of our own at the limit),
    # and a DELETE resent without reconcile. The SDK retries those itself, with a
    # ticket per attempt. No public switch exists; tests/client pins this one.
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False  # pyright: ignore[reportPrivateUsage] - see above
    return session


def _system_ssl() -> ssl.SSLContext:
    """A verifying TLS context from OpenSSL's built-in paths only (not ``SSL_CERT_*``)."""
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    if cafile is not None or capath is not None:
        context.load_verify_locations(cafile=cafile, capath=capath)
    return context
