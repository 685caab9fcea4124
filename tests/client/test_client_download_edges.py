"""Download edges: folders, size caps, no decompression, a deadline, no leftovers, file objects.

The video server is a hostile loopback aiohttp server (``odd_server``) or the
simulator's own file server. ``Recording`` is a binary file that remembers
every write, so that "refused at once" reads as: never more than
``size_bytes`` were written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp.web
import anyio
import pytest
from download_helpers import PROJECT_ID, VIDEO, serve_results
from odd_server import OddServer

from videoagent import (
    AsyncVideoAgent,
    ConflictError,
    DownloadError,
    DownloadVerificationError,
    InvalidRequestError,
)
from videoagent.simulator import Simulator

OddClient = Callable[..., AsyncVideoAgent]

#: A body 4,000 times the video's announced size.
LONG = 64 * 1_048_576


class Recording(io.BytesIO):
    """A seekable binary file that records the most bytes it ever held."""

    def __init__(self, initial: bytes = b"") -> None:
        super().__init__(initial)
        self.seek(0, io.SEEK_END)
        self.most = len(initial)

    def write(self, data: Any) -> int:
        """Write, remembering the high-water mark."""
        written = super().write(data)
        self.most = max(self.most, self.tell())
        return written


def serve_video(
    server: OddServer, handler: Callable[[aiohttp.web.Request], Any], *, data: bytes = VIDEO
) -> None:
    """``/result`` describing ``data`` at ``/files/v.mp4``, which ``handler`` serves."""
    serve_results(server, ["/files/v.mp4"], data)
    server.route("GET", "/files/v.mp4", handler)


def names(folder: Path) -> list[str]:
    """Everything in ``folder`` (hidden ``.part`` files included), recursively."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


async def finished_project(client: AsyncVideoAgent, sim: Simulator) -> str:
    """A project with a result, on the simulator."""
    project = await client.projects.create("a teaser")
    sim.advance(3_600)
    assert (await client.projects.wait(project.id)).has_result
    return project.id


# -- where it goes ----------------------------------------------------------------------


async def test_a_folder_receives_the_project_id_as_its_file_name(
    simulator: Simulator, client: AsyncVideoAgent, tmp_path: Path
) -> None:
    """``download(id, folder)`` into an existing folder writes ``<folder>/<id>.mp4``, verified;
    a path that names no folder is the file itself."""
    project_id = await finished_project(client, simulator)
    written = await client.projects.download(project_id, tmp_path)
    assert written == tmp_path / f"{project_id}.mp4"
    result = await client.projects.result(project_id)
    assert hashlib.sha256(written.read_bytes()).hexdigest() == result.sha256
    named = await client.projects.download(project_id, str(tmp_path / "named.mp4"))
    assert named.read_bytes() == written.read_bytes()
    assert names(tmp_path) == sorted([f"{project_id}.mp4", "named.mp4"])


async def test_a_path_ending_in_a_slash_is_a_folder_even_before_it_exists(
    simulator: Simulator, client: AsyncVideoAgent, tmp_path: Path
) -> None:
    """``download(id, "videos/")`` makes the folder and writes ``videos/<id>.mp4`` (never a
    file named ``videos``)."""
    project_id = await finished_project(client, simulator)
    written = await client.projects.download(project_id, f"{tmp_path}/videos/")
    assert written == tmp_path / "videos" / f"{project_id}.mp4"
    assert names(tmp_path) == ["videos", f"videos/{project_id}.mp4"]


async def test_nothing_is_created_for_a_refused_download(
    simulator: Simulator, client: AsyncVideoAgent, tmp_path: Path
) -> None:
    """A malformed id, or a project without a result, raises before any folder is made."""
    with pytest.raises(InvalidRequestError):
        await client.projects.download("../../x", tmp_path / "new" / "v.mp4")
    unfinished = await client.projects.create("not rendered yet")
    with pytest.raises(ConflictError):
        await client.projects.download(unfinished.id, tmp_path / "other" / "v.mp4")
    assert names(tmp_path) == []


# -- what is read -------------------------------------------------------------------------------


async def test_a_body_past_size_bytes_is_refused_before_it_is_written(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A body that goes on past the result's ``size_bytes`` (no Content-Length) stops at that
    size: never more is written or read (the server cannot send its 64 MiB), nothing kept."""
    sent: list[int] = []

    async def longer(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse()
        await response.prepare(request)
        sent.append(0)
        try:
            while sent[-1] < LONG:  # a broken client would take (and write) it all
                await response.write(VIDEO)
                sent[-1] += len(VIDEO)
        except (ConnectionError, aiohttp.ClientError):
            pass  # the client hung up: what it should do
        return response

    serve_video(odd_server, longer)
    file = Recording(b"kept")
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        with pytest.raises(DownloadError, match="goes on past the result's"):
            await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
        with pytest.raises(DownloadError, match="goes on past the result's"):
            await client.projects.download(PROJECT_ID, file)
    assert file.most <= len(b"kept") + len(VIDEO)
    assert file.getvalue() == b"kept"
    assert names(tmp_path) == []
    assert len(sent) == 2
    assert all(count < LONG for count in sent)


async def test_an_announced_longer_body_is_refused_unread(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A Content-Length above ``size_bytes`` is refused from the headers: nothing written."""

    async def announced(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=VIDEO + b"\x00" * 1_000)

    serve_video(odd_server, announced)
    file = Recording()
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        with pytest.raises(DownloadError, match="announces"):
            await client.projects.download(PROJECT_ID, file)
    assert file.most == 0


async def test_the_video_is_never_decompressed(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """The download asks for the bytes as stored (``Accept-Encoding: identity``); a
    gzip-encoded answer is refused, not inflated and then hashed."""
    asked: list[str | None] = []

    async def compressed(request: aiohttp.web.Request) -> aiohttp.web.Response:
        asked.append(request.headers.get("Accept-Encoding"))
        return aiohttp.web.Response(body=gzip.compress(VIDEO), headers={"Content-Encoding": "gzip"})

    serve_video(odd_server, compressed)
    file = Recording()
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        with pytest.raises(DownloadError, match="gzip-encoded"):
            await client.projects.download(PROJECT_ID, file)
    assert asked == ["identity"]
    assert file.most == 0


async def test_a_slow_drip_is_ended_by_the_overall_deadline(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """A server sending a byte every 20 ms (each read well within the timeout) is stopped
    by the transfer's deadline, ``(timeout + size / 64 KiB) * time_scale``, not after
    the 5 minutes the whole video would take; no ``.part`` is left."""
    stop = anyio.Event()

    async def drip(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Length": str(len(VIDEO))})
        await response.prepare(request)
        try:
            for byte in VIDEO:
                await response.write(bytes([byte]))
                with anyio.move_on_after(0.02):
                    await stop.wait()
                if stop.is_set():
                    break
        except (ConnectionError, aiohttp.ClientError):
            pass  # the client gave up: what it should do
        return response

    serve_video(odd_server, drip)
    # timeout 300 contract seconds at 0.001: each read may take 0.3 s, the whole 0.3 s.
    try:
        async with odd_client(await odd_server.start(), max_retries=0, timeout=300.0) as client:
            with pytest.raises(DownloadError, match=r"took longer than 0\.3 s"):
                await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    finally:
        stop.set()
    assert names(tmp_path) == []


# -- nothing left behind -----------------------------------------------------------------------


async def test_no_part_file_outlives_an_error_a_cancellation_or_a_mismatch(
    odd_server: OddServer, odd_client: OddClient, tmp_path: Path
) -> None:
    """The temporary ``.part`` file is gone after a broken transfer, a cancellation in the
    middle of the body, and bytes that fail verification; the destination never exists."""
    half_sent = anyio.Event()
    release = anyio.Event()
    mode: list[str] = ["broken"]

    async def video(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Length": str(len(VIDEO))})
        await response.prepare(request)
        if mode[0] == "mismatch":
            await response.write(VIDEO[:-1] + b"!")
            return response
        await response.write(VIDEO[: len(VIDEO) // 2])
        half_sent.set()
        if mode[0] == "broken":
            assert request.transport is not None
            request.transport.close()  # the body breaks off
            return response
        await release.wait()
        return response

    serve_video(odd_server, video)
    destination = tmp_path / "out" / "v.mp4"
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        with pytest.raises(DownloadError):
            await client.projects.download(PROJECT_ID, destination)
        assert names(tmp_path) == ["out"]

        mode[0] = "stalled"
        half_sent = anyio.Event()
        async with anyio.create_task_group() as group:

            async def cancel_when_half_written() -> None:
                await half_sent.wait()
                # (the .part file grows by another task's I/O: nothing to wait on)
                while not any(p.stat().st_size for p in (tmp_path / "out").iterdir()):  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                group.cancel_scope.cancel()

            group.start_soon(cancel_when_half_written)
            await client.projects.download(PROJECT_ID, destination)
        release.set()
        assert group.cancel_scope.cancelled_caught
        assert names(tmp_path) == ["out"]

        mode[0] = "mismatch"
        with pytest.raises(DownloadVerificationError):
            await client.projects.download(PROJECT_ID, destination)
    assert names(tmp_path) == ["out"]


# -- into a file object -------------------------------------------------------------------------


async def test_a_download_into_a_file_object_is_verified(
    simulator: Simulator, client: AsyncVideoAgent
) -> None:
    """``download(id, file)`` writes the verified video after what the file held, and returns
    the file."""
    project_id = await finished_project(client, simulator)
    result = await client.projects.result(project_id)
    file = Recording(b"head")
    assert await client.projects.download(project_id, file) is file
    assert file.getvalue()[:4] == b"head"
    assert hashlib.sha256(file.getvalue()[4:]).hexdigest() == result.sha256
    assert len(file.getvalue()) == 4 + result.size_bytes


async def test_a_failed_download_leaves_a_seekable_file_as_it_was(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """Bytes that fail verification (or a short body) are truncated back out of a seekable
    file: it holds what it held before."""
    bodies = iter([VIDEO[:-1] + b"!", VIDEO[:100]])

    async def wrong(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=next(bodies))

    serve_video(odd_server, wrong)
    file = Recording(b"earlier content")
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(DownloadVerificationError):
                await client.projects.download(PROJECT_ID, file)
            assert file.getvalue() == b"earlier content"
            assert file.tell() == len(b"earlier content")
