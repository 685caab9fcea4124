"""Verified downloads of a result's pre-signed URL.

- No ``Authorization`` header, ever: the download session is not the API's
  (it never holds the key), redirects are followed by hand (http(s) only,
  never from https down to http, at most ``_MAX_REDIRECTS``).
- The bytes are the video's as stored: no transparent decompression
  (``Accept-Encoding: identity``, and nothing is decoded).
- Reading stops at the result's ``size_bytes``: a body announced or found
  longer is refused at once, before it is written; a shorter one fails the
  size check.
- A slow drip cannot hold a download for ever: each read has the client's
  timeout, and the whole transfer a deadline (the timeout plus the size at
  ``_MIN_RATE``, scaled like every wait).
- Into a path: streamed into a temporary file beside it, checked against
  ``size_bytes`` and ``sha256``, renamed into place only once verified; the
  temporary file never outlives the call (errors and cancellation included).
  Into a binary file object: written as it streams; on a failed check a
  seekable file is truncated back to where it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import IO, BinaryIO, Final

import aiohttp
import anyio
from yarl import URL

from ._config import RetryPolicy, resolve_proxy
from ._errors import DownloadError, DownloadVerificationError, ResultExpiredError
from ._models import Result
from ._retry import RequestOptions
from ._transport import USER_AGENT, Failure, SessionHolder

__all__ = ["Downloader", "Sink", "destination_for"]

_MAX_REDIRECTS: Final = 10
_CHUNK: Final = 1 << 16
#: Bytes per contract second a download must average at least (the overall deadline).
_MIN_RATE: Final = 64 * 1024
_HEADERS: Final = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}

#: Where a download goes: a path, or a writable binary file object.
Sink = str | os.PathLike[str] | BinaryIO


@contextlib.asynccontextmanager
async def _opened(
    sink: Sink, project_id: str
) -> AsyncGenerator[tuple[IO[bytes], Path | None], None]:
    """The file to write, and the path it becomes (None for a file object).

    A path: a temporary file beside it (the folder made), renamed into place
    only when the block ends well, and gone in any case. A file object: as it
    is; when the block fails, a seekable one is truncated back to its start.
    """
    if not isinstance(sink, str | os.PathLike):
        start = sink.tell() if sink.seekable() else None
        try:
            yield sink, None
        except BaseException:
            if start is not None:  # nothing of a failed download stays in the file
                sink.seek(start)
                sink.truncate()
            raise
        return
    destination = destination_for(sink, project_id)
    await anyio.Path(destination.parent).mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        async with await anyio.open_file(partial, "wb") as file:
            yield file.wrapped, destination
        await anyio.Path(partial).replace(destination)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.Path(partial).unlink(missing_ok=True)


def destination_for(path: str | os.PathLike[str], project_id: str) -> Path:
    """The file a download to ``path`` writes: ``path/<project id>.mp4`` for a directory
    (one that exists, or a string ending in a slash: made if need be)."""
    destination = Path(path)
    folder = isinstance(path, str) and path.endswith(("/", os.sep))
    return destination / f"{project_id}.mp4" if folder or destination.is_dir() else destination


class Downloader:
    """Fetches result videos (see the module docstring).

    Args:
        session: the caller's aiohttp session, if the client was given one (it
            never holds the key: the API's auth travels per request); else the
            downloader makes its own.
        trust_env: proxies and certificates from the environment.
        backoff: real seconds to wait before a retry (the client's ``Caller.backoff``).
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None,
        trust_env: bool,
        backoff: Callable[[RetryPolicy, int, float | None], float],
    ) -> None:
        self._session = SessionHolder(session, None, trust_env=trust_env, auto_decompress=False)
        self._trust_env = trust_env
        self._backoff = backoff

    async def aclose(self) -> None:
        """Close the session if the downloader made it; idempotent."""
        await self._session.aclose()

    async def download(
        self,
        project_id: str,
        sink: Sink,
        *,
        result: Result,
        fresh_result: Callable[[], Awaitable[Result]],
        options: RequestOptions,
    ) -> Path | BinaryIO:
        """The result video into ``sink``, verified; the path written (or the file object).

        An expired URL (403, 410) gets one fresh URL from ``fresh_result``.
        """
        async with _opened(sink, project_id) as (file, destination):
            await self._fetch_verified(
                project_id,
                file,
                destination=destination,
                result=result,
                fresh_result=fresh_result,
                options=options,
            )
        if destination is not None:
            return destination
        assert not isinstance(sink, str | os.PathLike)  # (a path has its destination)
        return sink

    async def _fetch_verified(
        self,
        project_id: str,
        file: IO[bytes],
        *,
        destination: Path | None,
        result: Result,
        fresh_result: Callable[[], Awaitable[Result]],
        options: RequestOptions,
    ) -> None:
        start = file.tell() if file.seekable() else None
        try:
            size, digest = await self._fetch(result, file, options)
        except DownloadError as exc:
            if exc.status not in (403, 410):
                raise
            result = await fresh_result()  # expired: one fresh URL
            if start is not None:
                file.seek(start)
                file.truncate()
            try:
                size, digest = await self._fetch(result, file, options)
            except DownloadError as again:
                if again.status not in (403, 410):
                    raise
                raise ResultExpiredError(
                    f"the video URL of {project_id} answered HTTP {again.status} "
                    "even after a fresh /result",
                    status=again.status,
                    request_id=result.request_id,
                ) from again
        if size != result.size_bytes or digest != result.sha256:
            where = "" if destination is None else f"; nothing was written to {destination}"
            raise DownloadVerificationError(
                f"the download of {project_id} does not match its result: "
                f"{size} bytes with sha256 {digest}, expected {result.size_bytes} bytes "
                f"with sha256 {result.sha256}{where}",
                expected_sha256=result.sha256,
                actual_sha256=digest,
                expected_size=result.size_bytes,
                actual_size=size,
            )

    async def _fetch(
        self, result: Result, file: IO[bytes], options: RequestOptions
    ) -> tuple[int, str]:
        """The URL's bytes into ``file`` (retrying transient failures): size and sha256."""
        retry = options.retry
        start = file.tell() if file.seekable() else None
        deadline = (options.timeout + result.size_bytes / _MIN_RATE) * options.time_scale
        attempt = 0
        while True:
            try:
                with anyio.fail_after(deadline):
                    return await self._fetch_once(result, file, options)
            except TimeoutError as exc:
                failure = Failure(
                    DownloadError(
                        f"the download of {result.project_id} took longer than "
                        f"{deadline:.1f} s (a slow drip?)"
                    ),
                    retryable=True,
                    ambiguous=False,
                )
                failure.error.__cause__ = exc
            except Failure as failed:
                failure = failed
            if not failure.retryable or attempt >= retry.max_retries or start is None:
                raise failure.error from failure.error.__cause__
            file.seek(start)
            file.truncate()
            await anyio.sleep(self._backoff(retry, attempt, failure.retry_after))
            attempt += 1

    async def _fetch_once(
        self, result: Result, file: IO[bytes], options: RequestOptions
    ) -> tuple[int, str]:
        session = self._session.get()
        seconds = options.timeout * options.time_scale
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
        try:
            url = URL(result.video_url)
            for _ in range(_MAX_REDIRECTS + 1):
                if url.scheme not in ("http", "https"):
                    raise _refused(f"refused a redirect to a {url.scheme or 'relative'} URL")
                async with session.get(
                    url,
                    headers=_HEADERS,
                    timeout=timeout,
                    allow_redirects=False,
                    auto_decompress=False,
                    proxy=resolve_proxy(str(url)) if self._trust_env else None,
                ) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        target = url.join(URL(resp.headers["Location"]))
                        if url.scheme == "https" and target.scheme == "http":
                            raise _refused("refused a redirect from https down to plain http")
                        url = target
                        continue
                    if resp.status != 200:
                        raise _status_failure(resp)
                    return await _stream(resp, file, result.size_bytes)
            raise _refused(f"more than {_MAX_REDIRECTS} redirects")
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            error = DownloadError(f"the download failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            raise Failure(error, retryable=True, ambiguous=False) from exc
        except ValueError as exc:  # a malformed URL or Location (yarl)
            error = DownloadError(f"the video URL is malformed: {exc}")
            error.__cause__ = exc
            raise Failure(error, retryable=False, ambiguous=False) from exc


async def _stream(resp: aiohttp.ClientResponse, file: IO[bytes], expected: int) -> tuple[int, str]:
    """Write the body to ``file``, never past ``expected`` bytes: size and sha256."""
    announced = resp.content_length
    if announced is not None and announced > expected:
        raise _refused(f"the video URL announces {announced:,} bytes, the result {expected:,}")
    if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise _refused(
            f"the video URL sent a {resp.headers['Content-Encoding']}-encoded body; "
            "the video's bytes are verified as stored"
        )
    digest = hashlib.sha256()
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > expected:
            raise _refused(f"the video's body goes on past the result's {expected:,} bytes")
        digest.update(chunk)
        await anyio.to_thread.run_sync(file.write, chunk)
    return size, digest.hexdigest()


def _status_failure(resp: aiohttp.ClientResponse) -> Failure:
    retry_after = _retry_after(resp.headers.get("Retry-After"))
    error = DownloadError(
        f"the video URL answered HTTP {resp.status}", status=resp.status, retry_after=retry_after
    )
    retryable = resp.status >= 500 or resp.status == 429
    return Failure(error, retryable=retryable, ambiguous=False, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86_400 else None


def _refused(message: str) -> Failure:
    return Failure(DownloadError(message), retryable=False, ambiguous=False)
