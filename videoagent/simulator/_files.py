"""Result videos: distinct bytes per project and render, behind pre-signed URLs.

Every video is the packaged ``sample.mp4`` (a 2 s 320x180 H.264 test pattern)
followed by an MP4 ``free`` box naming the project, the render and the
resolution, so two projects never share bytes and a mix-up is detectable.

URLs are stateless and pre-signed: ``/files/<project>/<version>/<resolution>.mp4
?e=<expiry>&n=<nonce>&s=<HMAC>``, served on their own origin (a second loopback
port) with no authentication; a stale ``e`` answers 410. A ``Range`` header
gets that byte range (206), so interrupted downloads can resume. A request
carrying an ``Authorization`` header answers 400, as object stores do: the
client must not send its API key to the file host.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from importlib import resources

from aiohttp import web

from ._clock import Clock
from ._http import error_body, json_response
from ._ids import IdFactory
from ._log import RecordLog
from ._records import DownloadRecord

__all__ = ["VideoStore", "video_bytes"]


@lru_cache(maxsize=1)
def _sample() -> bytes:
    return resources.files("videoagent.simulator").joinpath("sample.mp4").read_bytes()


def video_bytes(project_id: str, version: int, resolution: str) -> bytes:
    """The exact bytes of one project's video at one render ``version``."""
    payload = f"videoagent simulator: project={project_id} render={version} resolution={resolution}"
    data = payload.encode()
    return _sample() + (8 + len(data)).to_bytes(4, "big") + b"free" + data


@lru_cache(maxsize=4096)
def _digest(project_id: str, version: int, resolution: str) -> tuple[int, str]:
    data = video_bytes(project_id, version, resolution)
    return len(data), hashlib.sha256(data).hexdigest()


class VideoStore:
    """Signs download URLs and serves the files behind them."""

    def __init__(
        self, clock: Clock, ids: IdFactory, url_ttl: float, downloads: RecordLog[DownloadRecord]
    ) -> None:
        self._clock = clock
        self._ids = ids
        self._ttl = url_ttl
        self._key = ids.token(32).encode()
        #: the file server's origin, e.g. ``http://127.0.0.1:45678`` (set at start)
        self.origin = ""
        #: the newest requests the file server answered
        self.downloads = downloads

    def describe(self, project_id: str, version: int, resolution: str) -> tuple[int, str]:
        """``(size_bytes, sha256)`` of a video."""
        return _digest(project_id, version, resolution)

    def sign(self, project_id: str, version: int, resolution: str) -> tuple[str, float]:
        """A fresh URL for a video and its expiry (unix seconds, contract units)."""
        real_ttl = self._clock.scaled(self._ttl)
        expires = f"{self._clock.unix() + real_ttl:.6f}"
        nonce = self._ids.token(8)
        path = f"/files/{project_id}/{version}/{resolution}.mp4"
        signature = self._signature(path, expires, nonce)
        url = f"{self.origin}{path}?e={expires}&n={nonce}&s={signature}"
        return url, self._clock.unix_after(real_ttl)

    def _signature(self, path: str, expires: str, nonce: str) -> str:
        message = f"{path}\n{expires}\n{nonce}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def app(self) -> web.Application:
        """The file server: ``GET /files/...`` with no authentication."""
        app = web.Application()
        app.router.add_get("/files/{project_id}/{version}/{resolution}.mp4", self._serve)
        return app

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        response = self._answer(request)
        self.downloads.append(
            DownloadRecord(
                at=self._clock.unix(),
                path=request.path,
                status=response.status,
                authorization="Authorization" in request.headers,
                range=request.headers.get("Range"),
            )
        )
        return response

    def _answer(self, request: web.Request) -> web.Response:
        match, query = request.match_info, request.query
        if "Authorization" in request.headers:
            # as object stores do: a pre-signed URL is the only credential
            message = "pre-signed URL: send no Authorization header"
            return json_response(error_body("invalid_request", message, ""), 400)
        expires, nonce, signature = query.get("e", ""), query.get("n", ""), query.get("s", "")
        expected = self._signature(request.path, expires, nonce)
        if not hmac.compare_digest(expected, signature) or not match["version"].isdigit():
            return json_response(error_body("not_found", "no such file", ""), 404)
        if float(expires) <= self._clock.unix():
            return json_response(error_body("gone", "this URL has expired", ""), 410)
        data = video_bytes(match["project_id"], int(match["version"]), match["resolution"])
        return _ranged(request, data)


def _ranged(request: web.Request, data: bytes) -> web.Response:
    """The whole video, or the one byte range asked for (206; 416 if unsatisfiable)."""
    headers = {"Accept-Ranges": "bytes"}
    size = len(data)
    try:
        asked = request.http_range
    except ValueError:
        asked = slice(size, size)
    if "Range" not in request.headers:
        return web.Response(body=data, content_type="video/mp4", headers=headers)
    start, stop, _ = asked.indices(size)
    if start >= stop:
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(
        body=data[start:stop], status=206, content_type="video/mp4", headers=headers
    )
