"""Odd clocks in headers: never a crash, never a busy loop, never a hang.

A loopback server answers with ``Retry-After`` far in the future, negative or
malformed, ``X-RateLimit-Reset`` in the past or absurd, or no such headers at
all; each test bounds both the requests made and the time taken (a deadline,
not a timing measurement).
"""

from __future__ import annotations

import time

import aiohttp.web
import anyio
import pytest
from odd_server import OddServer
from rel_helpers import KNOWN_KEY

from videoagent import (
    APIStatusError,
    AsyncVideoAgent,
    Limits,
    RateLimitError,
    ServiceUnavailableError,
    VideoAgentError,
)

PROJECT_ID = "prj_abcdefgh12"
ACCOUNT = {"credits": 500, "plan": "free", "active_projects": 0, "renders_today": 0,
           "projects_today": 0}  # fmt: skip
#: Retry-After values no server should send (None: the header is missing).
ODD_RETRY_AFTER = [None, "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", "nan", "inf", "",
                   "1e400", "0", "0x10", "3.5.1"]  # fmt: skip
FAR_FUTURE = ["99999999999", "86400", "1e9"]


def error(status: int, code: str, retry_after: str | None) -> aiohttp.web.Response:
    """An error answer of the contract's shape with the given Retry-After (or none)."""
    body = {"error": {"code": code, "message": code, "request_id": "req_odd"}}
    response = aiohttp.web.json_response(body, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return response


def client_of(base_url: str, **options: object) -> AsyncVideoAgent:
    """A client at time scale 0.01 with the contract's limits and 4 retries."""
    return AsyncVideoAgent(KNOWN_KEY, base_url, time_scale=0.01, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limited"), (503, "service_unavailable")])
@pytest.mark.parametrize("retry_after", ODD_RETRY_AFTER)
async def test_odd_retry_after_is_backoff_then_an_error(
    odd_server: OddServer, status: int, code: str, retry_after: str | None
) -> None:
    """A missing, negative or malformed Retry-After falls back to backoff: 5 tries, then raised."""

    async def refuse(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return error(status, code, retry_after)

    odd_server.route("GET", "/v1/account", refuse)
    with anyio.fail_after(20):
        async with client_of(await odd_server.start()) as client:
            with pytest.raises(RateLimitError if status == 429 else ServiceUnavailableError):
                await client.account.get()
            assert client.statistics().requests.paused_for <= 30 * 0.01
    assert len(odd_server.requests) == 5


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limited"), (503, "service_unavailable")])
@pytest.mark.parametrize("retry_after", FAR_FUTURE)
async def test_far_future_retry_after_raises_at_once_and_blocks_nothing(
    odd_server: OddServer, status: int, code: str, retry_after: str
) -> None:
    """A Retry-After of a day or more raises at once, and the next call is not held back."""
    refused: list[int] = []

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        if not refused:
            refused.append(1)
            return error(status, code, retry_after)
        return aiohttp.web.json_response(ACCOUNT)

    odd_server.route("GET", "/v1/account", account)
    with anyio.fail_after(10):
        async with client_of(await odd_server.start()) as client:
            with pytest.raises(APIStatusError) as info:
                await client.account.get()
            assert info.value.retry_after is not None
            assert info.value.retry_after >= 86400
            assert (await client.account.get()).credits == 500
    assert len(odd_server.requests) == 2


@pytest.mark.parametrize("reset", ["1", "0", "-100", "garbage", None, str(10**12), "nan", "1e400"])
async def test_rate_limit_reset_in_the_past_or_absurd(
    odd_server: OddServer, reset: str | None
) -> None:
    """Remaining 0 with a Reset in the past, far away, malformed or missing: calls go on, paced."""

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        response = aiohttp.web.json_response(ACCOUNT)
        response.headers["X-RateLimit-Limit"] = "30"
        response.headers["X-RateLimit-Remaining"] = "0"
        if reset is not None:
            response.headers["X-RateLimit-Reset"] = reset
        return response

    odd_server.route("GET", "/v1/account", account)
    base_url = await odd_server.start()
    with anyio.fail_after(20):
        # time scale 0.001: a held window is 60 ms; three calls need at most two windows
        async with AsyncVideoAgent(KNOWN_KEY, base_url, time_scale=0.001) as client:
            for _ in range(3):
                assert (await client.account.get()).credits == 500
    assert len(odd_server.requests) == 3


async def test_missing_headers_are_fine(odd_server: OddServer) -> None:
    """Answers with no X-Request-Id and no X-RateLimit-* headers parse and are not retried."""

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text='{"credits": 500, "plan": "free", "active_projects": 0, '
                                    '"renders_today": 0, "projects_today": 0}',
                                    content_type="application/json")  # fmt: skip

    odd_server.route("GET", "/v1/account", account)
    async with client_of(await odd_server.start()) as client:
        account_now = await client.account.get()
    assert (account_now.credits, account_now.request_id) == (500, None)
    assert len(odd_server.requests) == 1


@pytest.mark.parametrize("retry_after", ["0", "-1", "never", None])
async def test_the_watcher_does_not_spin_on_refusals(
    odd_server: OddServer, retry_after: str | None
) -> None:
    """A project whose polls always get 429/503 with odd Retry-After: a bounded number of polls."""
    turn: list[int] = []

    async def refuse(_: aiohttp.web.Request) -> aiohttp.web.Response:
        turn.append(1)
        if len(turn) % 2:
            return error(429, "rate_limited", retry_after)
        return error(503, "service_unavailable", retry_after)

    odd_server.route("GET", f"/v1/projects/{PROJECT_ID}", refuse)
    base_url = await odd_server.start()
    started = time.monotonic()
    with anyio.fail_after(30):
        async with client_of(base_url, limits=Limits(active_projects=None)) as client:
            with pytest.raises(VideoAgentError):
                await client.projects.wait(PROJECT_ID, timeout=600)
    contract_seconds = (time.monotonic() - started) / 0.01
    # 5 turns of at most 5 tries each end the watch; a busy loop would make hundreds
    assert len(odd_server.requests) <= 25
    assert len(odd_server.requests) <= max(10, contract_seconds)
