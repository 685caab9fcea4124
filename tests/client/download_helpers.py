"""Helpers of the download tests: a small video, and a ``/result`` that points at it."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp.web
from odd_server import OddServer

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
PROJECT_ID = "prj_abcdefgh12"


def result_body(url: str, data: bytes = VIDEO) -> dict[str, Any]:
    """A /result answer for ``url`` describing ``data``."""
    return {
        "project_id": PROJECT_ID,
        "video_url": url,
        "expires_at": "2026-12-01T10:00:00Z",
        "resolution": "1080p",
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def serve_results(server: OddServer, urls: list[str], data: bytes = VIDEO) -> list[int]:
    """Serve /result answering ``urls`` in turn; returns the list its calls are counted in."""
    calls: list[int] = []

    async def result(_: aiohttp.web.Request) -> aiohttp.web.Response:
        calls.append(1)
        url = server.url + urls[min(len(calls), len(urls)) - 1]
        return aiohttp.web.json_response(result_body(url, data))

    server.route("GET", f"/v1/projects/{PROJECT_ID}/result", result)
    return calls
