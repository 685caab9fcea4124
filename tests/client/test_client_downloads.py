"""Downloads: no auth header (also across redirects), verification, expiry, atomicity."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
from download_helpers import PROJECT_ID, VIDEO, serve_results
from odd_server import OddServer

from videoagent import (
    AsyncVideoAgent,
    DownloadError,
    DownloadVerificationError,
    ResultExpiredError,
)
from videoagent._wiring import wiring_of

OddClient = Callable[..., AsyncVideoAgent]


def leftovers(directory: Path) -> list[str]:
    """Names of the files in ``directory``."""
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("callers_session", [False, True])
async def test_no_auth_header_on_downloads_even_across_redirects(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path, *, callers_session: bool
) -> None:
    """The pre-signed URL and the URL it redirects to are fetched without Authorization.

    With a session of its own, the client downloads through a second one that
    never holds the key, and closes both; a caller's session serves both.
    """
    seen: list[str | None] = []

    async def redirect(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append(request.headers.get("Authorization"))
        # another origin: localhost instead of 127.0.0.1
        target = odd_server.url.replace("127.0.0.1", "localhost") + "/files/video.mp4"
        return aiohttp.web.Response(status=302, headers={"Location": target})

    async def video(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append(request.headers.get("Authorization"))
        return aiohttp.web.Response(body=VIDEO, content_type="video/mp4")

    odd_server.route("GET", "/signed", redirect)
    odd_server.route("GET", "/files/video.mp4", video)
    serve_results(odd_server, ["/signed?s=abc"])
    async with contextlib.AsyncExitStack() as stack:
        given = None
        if callers_session:
            given = await stack.enter_async_context(aiohttp.ClientSession())
        async with odd_client(await odd_server.start(), session=given) as client:
            path = await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
            api_session = wiring_of(client).caller.transport._session.get()
            download_session = client._core.downloader._session.get()
        if given is None:
            assert api_session is not None
            assert download_session is not None
            assert api_session is not download_session
            assert "Authorization" not in download_session.headers
            assert api_session.closed
            assert download_session.closed
        else:
            assert api_session is download_session is given
            assert not given.closed
    api_auth = [r.headers.get("Authorization") for r in odd_server.requests if "/v1/" in r.path]
    assert path.read_bytes() == VIDEO
    assert seen == [None, None]
    assert all(value and value.startswith("Bearer ") for value in api_auth)


async def test_mismatch_leaves_nothing_behind(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """Bytes that do not hash to the result's sha256 raise and leave no file."""

    async def video(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=VIDEO[:-1] + b"!")

    odd_server.route("GET", "/files/video.mp4", video)
    serve_results(odd_server, ["/files/video.mp4"])
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(DownloadVerificationError) as info:
            await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert info.value.expected_sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert info.value.actual_size == len(VIDEO)
    assert leftovers(tmp_path) == []


async def test_an_existing_file_is_replaced_only_when_verified(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A failed download leaves the previous file at the destination untouched."""

    async def short(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=VIDEO[:100])

    odd_server.route("GET", "/files/video.mp4", short)
    serve_results(odd_server, ["/files/video.mp4"])
    destination = tmp_path / "v.mp4"
    destination.write_bytes(b"old")
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(DownloadVerificationError):
            await client.projects.download(PROJECT_ID, destination)
    assert destination.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["v.mp4"]


async def test_expired_url_gets_one_fresh_url(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A 410 from the video URL fetches /result again and downloads from the fresh URL."""

    async def gone(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=410)

    async def video(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=VIDEO)

    odd_server.route("GET", "/files/old.mp4", gone)
    odd_server.route("GET", "/files/new.mp4", video)
    calls = serve_results(odd_server, ["/files/old.mp4", "/files/new.mp4"])
    async with odd_client(await odd_server.start()) as client:
        path = await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert path.read_bytes() == VIDEO
    assert len(calls) == 2


async def test_still_expired_raises(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A fresh URL that is gone too raises ResultExpiredError and leaves no file."""

    async def gone(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=410)

    odd_server.route("GET", "/files/old.mp4", gone)
    calls = serve_results(odd_server, ["/files/old.mp4"])
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(ResultExpiredError) as info:
            await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert info.value.status == 410
    assert len(calls) == 2
    assert leftovers(tmp_path) == []


async def test_redirect_to_another_scheme_is_refused(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A download redirecting to a non-http(s) URL is refused."""

    async def redirect(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=302, headers={"Location": "file:///etc/passwd"})

    odd_server.route("GET", "/files/video.mp4", redirect)
    serve_results(odd_server, ["/files/video.mp4"])
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(DownloadError, match="refused a redirect"):
            await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert leftovers(tmp_path) == []


async def test_sim_download_after_expiry(
    client: AsyncVideoAgent, simulator: Any, tmp_path: Path
) -> None:
    """Against the simulator, a download a day later still verifies (fresh URL per call)."""
    project = await client.projects.create("expiring")
    simulator.advance(3_600)
    first = await client.projects.result(project.id)
    simulator.advance(2 * 86_400)
    path = await client.projects.download(project.id, tmp_path / "late.mp4")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first.sha256
