"""Results: pre-signed, expiring URLs on another origin, and bytes that match their digest."""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from sim_helpers import Api, MakeApi

from videoagent.simulator import Simulator

PHASE = 500.0


async def _finished(sim: Simulator, api: Api, brief: str = "a teaser") -> str:
    project_id = (await api.create(brief))["id"]
    sim.advance(3 * PHASE)
    return project_id


async def _download(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with session.get(url) as answer:
        return answer.status, await answer.read()


async def test_result_downloads_without_auth_from_another_origin(
    simulator: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    """The video_url is on another origin, needs no auth, and serves the size and sha256 told."""
    project_id = await _finished(simulator, api)
    result = (await api.get(f"/projects/{project_id}/result")).body
    assert result["project_id"] == project_id
    assert result["resolution"] == "1080p"
    url, base = urlsplit(result["video_url"]), urlsplit(simulator.base_url)
    assert (url.hostname, url.port) != (base.hostname, base.port)
    assert not url.path.startswith("/v1")
    status, data = await _download(session, result["video_url"])
    assert status == 200
    assert len(data) == result["size_bytes"]
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    assert data[4:8] == b"ftyp"  # a real MP4
    assert project_id.encode() in data


async def test_each_result_call_gives_a_fresh_url(simulator: Simulator, api: Api) -> None:
    """Two /result calls give two URLs for the same bytes."""
    project_id = await _finished(simulator, api)
    first = (await api.get(f"/projects/{project_id}/result")).body
    second = (await api.get(f"/projects/{project_id}/result")).body
    assert first["video_url"] != second["video_url"]
    assert first["sha256"] == second["sha256"]


async def test_urls_expire_after_24_hours_with_410(
    simulator: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    """A URL works until its 24 contract hours pass, then answers 410; a fresh one works."""
    project_id = await _finished(simulator, api)
    result = (await api.get(f"/projects/{project_id}/result")).body
    simulator.advance(86_000.0)
    assert (await _download(session, result["video_url"]))[0] == 200
    simulator.advance(401.0)
    assert (await _download(session, result["video_url"]))[0] == 410
    fresh = (await api.get(f"/projects/{project_id}/result")).body
    assert (await _download(session, fresh["video_url"]))[0] == 200


async def test_expires_at_is_24_contract_hours_ahead(simulator: Simulator, api: Api) -> None:
    """expires_at is 24 hours after now, in the contract's units."""
    project_id = await _finished(simulator, api)
    result = (await api.get(f"/projects/{project_id}/result")).body
    expires = datetime.fromisoformat(result["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - simulator.clock.unix() - 86_400) < 60


async def test_tampered_or_unknown_urls_answer_404(
    simulator: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    """A URL whose signature does not match its path answers 404."""
    project_id = await _finished(simulator, api)
    url = (await api.get(f"/projects/{project_id}/result")).body["video_url"]
    assert (await _download(session, url.replace("/1/", "/2/")))[0] == 404
    assert (await _download(session, url.split("?")[0]))[0] == 404


async def test_videos_differ_between_projects_and_renders(make_api: MakeApi) -> None:
    """Each project and each render has its own bytes (a mix-up is detectable)."""
    sim, api = await make_api()
    first = await _finished(sim, api, "one")
    second = await _finished(sim, api, "two")
    digests = {(await api.get(f"/projects/{p}/result")).body["sha256"] for p in (first, second)}
    await api.post(f"/projects/{first}/render")
    sim.advance(PHASE)
    digests.add((await api.get(f"/projects/{first}/result")).body["sha256"])
    assert len(digests) == 3


async def test_no_result_before_the_project_has_one(simulator: Simulator, api: Api) -> None:
    """GET /result on a project without a result answers 409 conflict."""
    project_id = (await api.create())["id"]
    reply = await api.get(f"/projects/{project_id}/result")
    assert (reply.status, reply.code) == (409, "conflict")


async def test_byte_ranges_resume_a_download(
    simulator: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    """A Range request gets 206 and exactly those bytes; an impossible range gets 416."""
    project_id = await _finished(simulator, api)
    url = (await api.get(f"/projects/{project_id}/result")).body["video_url"]
    whole = (await _download(session, url))[1]
    async with session.get(url, headers={"Range": "bytes=1000-"}) as answer:
        assert answer.status == 206
        assert answer.headers["Content-Range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
        assert await answer.read() == whole[1000:]
    async with session.get(url, headers={"Range": f"bytes={len(whole)}-"}) as answer:
        assert answer.status == 416


async def test_downloads_carrying_the_api_key_are_refused(
    simulator: Simulator, api: Api, session: aiohttp.ClientSession
) -> None:
    """A download with an Authorization header answers 400; the download log records it."""
    project_id = await _finished(simulator, api)
    url = (await api.get(f"/projects/{project_id}/result")).body["video_url"]
    async with session.get(url, headers={"Authorization": f"Bearer {api.api_key}"}) as answer:
        assert answer.status == 400
    assert (await _download(session, url))[0] == 200
    log = simulator.download_log
    assert [(r.status, r.authorization) for r in log] == [(400, True), (200, False)]
    assert log[0].path == f"/files/{project_id}/1/1080p.mp4"
