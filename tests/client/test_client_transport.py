"""The transport against a loopback server giving answers the simulator never sends."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp.web
import pytest

from videoagent import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AsyncVideoAgent,
    CreditsWarning,
    InternalServerError,
    InvalidRequestError,
    Limits,
    NotFoundError,
    PayloadTooLargeError,
    ProjectLimitError,
    RateLimitError,
    ServiceUnavailableError,
)
from videoagent._wiring import wiring_of

pytestmark = pytest.mark.anyio  # parametrized coroutine tests need the mark at collection

OddServer = Any
OddClient = Callable[..., AsyncVideoAgent]

PROJECT = {
    "id": "prj_abcdefgh12",
    "object": "project",
    "status": "queued",
    "mode": "autonomous",
    "brief": "b",
    "created_at": "2026-11-30T10:00:00Z",
    "updated_at": "2026-11-30T10:00:00Z",
}


def answer(status: int, body: object = None, **headers: str) -> aiohttp.web.Response:
    """A response with a JSON body (or a raw string body) and extra headers."""
    text = body if isinstance(body, str) else json.dumps(body if body is not None else PROJECT)
    return aiohttp.web.Response(
        status=status, text=text, content_type="application/json", headers=headers
    )


async def test_malformed_rate_limit_headers_are_ignored(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """Garbage X-RateLimit-* and X-Request-Id-less answers still parse."""

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return answer(
            200,
            **{"X-RateLimit-Remaining": "lots", "X-RateLimit-Reset": "-inf", "Retry-After": "x"},
        )

    odd_server.route("GET", "/v1/projects/{id}", handler)
    async with odd_client(await odd_server.start(), limits=Limits()) as c:
        project = await c.projects.get("prj_abcdefgh12")
    assert project.request_id is None
    assert project.status.value == "queued"


@pytest.mark.parametrize(
    ("code", "body", "cls"),
    [
        (404, "<html>Not Found</html>", NotFoundError),
        (500, '{"error": {"code": "internal_err', InternalServerError),
        (503, "", ServiceUnavailableError),
        (429, "not json", RateLimitError),
        (418, "{}", APIStatusError),
    ],
)
async def test_non_json_error_bodies_map_by_status(
    odd_server: OddServer,
    odd_client: OddClient,
    code: int,
    body: str,
    cls: type[APIStatusError],
) -> None:
    """A non-JSON or truncated error body still raises the class of its status."""

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return answer(code, body, **{"X-Request-Id": "req_odd"})

    odd_server.route("GET", "/v1/projects/{id}", handler)
    async with odd_client(await odd_server.start(), max_retries=0) as c:
        with pytest.raises(cls) as info:
            await c.projects.get("prj_abcdefgh12")
    assert type(info.value) is cls
    assert info.value.status == code
    assert info.value.request_id == "req_odd"


async def test_request_id_from_the_error_body(odd_server: OddServer, odd_client: OddClient) -> None:
    """Without the header, the error body's request_id is kept on the exception."""

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        error = {"error": {"code": "not_found", "message": "no", "request_id": "req_body"}}
        return answer(404, error)

    odd_server.route("GET", "/v1/projects/{id}", handler)
    async with odd_client(await odd_server.start()) as c:
        with pytest.raises(NotFoundError) as info:
            await c.projects.get("prj_abcdefgh12")
    assert info.value.request_id == "req_body"
    assert "req_body" in str(info.value)


async def test_api_redirects_are_not_followed(odd_server: OddServer, odd_client: OddClient) -> None:
    """An API answer redirecting elsewhere is an error; the key never follows it."""
    hits: list[str] = []

    async def redirect(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=307, headers={"Location": "http://127.0.0.2:9/steal"})

    async def elsewhere(request: aiohttp.web.Request) -> aiohttp.web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return answer(200)

    odd_server.route("GET", "/v1/projects/{id}", redirect)
    odd_server.route("GET", "/steal", elsewhere)
    async with odd_client(await odd_server.start()) as c:
        with pytest.raises(APIStatusError, match="redirect"):
            await c.projects.get("prj_abcdefgh12")
    assert hits == []


async def test_long_retry_after_raises_at_once(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A Retry-After of hours (a daily limit) raises with retry_after instead of sleeping."""

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        error = {"error": {"code": "project_limit", "message": "daily limit"}}
        return answer(429, error, **{"Retry-After": "36000"})

    odd_server.route("POST", "/v1/projects", handler)
    async with odd_client(await odd_server.start(), time_scale=1.0) as c:
        started = time.monotonic()
        with pytest.raises(ProjectLimitError) as info:
            await c.projects.create("b")
    assert time.monotonic() - started < 5
    assert info.value.retry_after == 36000
    assert len(odd_server.requests) == 1


async def test_idempotency_key_is_reused_and_nulls_are_omitted(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """Every retry of create sends the same generated key, and no unset field."""
    bodies: list[dict[str, object]] = []

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        bodies.append(await request.json())
        if len(bodies) < 3:
            return answer(500, {"error": {"code": "internal_error", "message": "boom"}})
        return answer(202)

    odd_server.route("POST", "/v1/projects", handler)
    async with odd_client(await odd_server.start()) as c:
        project = await c.projects.create("a brief")
    assert project.id == "prj_abcdefgh12"
    assert len(bodies) == 3
    assert set(bodies[0]) == {"brief", "idempotency_key"}
    assert len({body["idempotency_key"] for body in bodies}) == 1


async def test_checks_before_sending(odd_server: OddServer, odd_client: OddClient) -> None:
    """Malformed ids and bodies over 1 MiB raise without any request going out."""
    odd_server.route("GET", "/{tail:.*}", lambda _: answer(200))  # type: ignore[arg-type, return-value]
    odd_server.route("POST", "/{tail:.*}", lambda _: answer(202))  # type: ignore[arg-type, return-value]
    async with odd_client(await odd_server.start()) as c:
        for bad in ("../account", "prj_abc/../x", "prj_", "msg_abcdefgh", "prj_a?b=c", ""):
            with pytest.raises(InvalidRequestError):
                await c.projects.get(bad)
        with pytest.raises(InvalidRequestError, match="brief is 1,048,576 characters"):
            await c.projects.create("x" * (1 << 20))
        with pytest.raises(PayloadTooLargeError, match="nothing was sent"):
            await wiring_of(c).caller.call(
                "POST", "/projects", _raw, options=c._options, body={"brief": "x" * (1 << 20)}
            )
    assert odd_server.requests == []


async def test_credits_warning_reaches_the_callback(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A credits_warning in an answer is on the model and goes to the callback."""
    seen: list[CreditsWarning] = []

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return answer(200, {**PROJECT, "credits_warning": {"balance": 40, "threshold": 100}})

    odd_server.route("GET", "/v1/projects/{id}", handler)
    async with odd_client(await odd_server.start(), on_credits_warning=seen.append) as c:
        project = await c.projects.get("prj_abcdefgh12")
    assert project.credits_warning == CreditsWarning(balance=40, threshold=100)
    assert seen == [CreditsWarning(balance=40, threshold=100)]


async def test_refused_connection_is_retried_then_raised(
    caplog: pytest.LogCaptureFixture, odd_client: OddClient, fake_key: str
) -> None:
    """Nothing listening: retried max_retries times, then APIConnectionError; logged at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="videoagent")
    async with odd_client("http://127.0.0.1:9/v1", max_retries=2) as c:
        with pytest.raises(APIConnectionError, match="could not connect"):
            await c.projects.get("prj_abcdefgh12")
    attempts = [
        r
        for r in caplog.records
        if r.levelno == logging.DEBUG and "/projects/prj_abcdefgh12" in r.getMessage()
    ]
    assert [r.args[3] for r in attempts] == [1, 2, 3]  # type: ignore[index]
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert [m.split(";")[1].split(" in ")[0] for m in retries] == [" attempt 2", " attempt 3"]
    assert all(fake_key not in r.getMessage() for r in caplog.records)


async def test_ids_are_url_quoted_in_paths(odd_server: OddServer, odd_client: OddClient) -> None:
    """The request path is exactly the documented one for a valid id."""

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return answer(200, {"data": [], "has_more": False})

    odd_server.route("GET", "/v1/projects/{id}/messages", handler)
    async with odd_client(await odd_server.start()) as c:
        assert [m async for m in c.projects.messages("prj_abcdefgh12", after="msg_x1")] == []
    request = odd_server.requests[0]
    assert request.raw_path == "/v1/projects/prj_abcdefgh12/messages?after=msg_x1"


async def test_a_body_of_exactly_one_mib_is_sent(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """The transport's 1 MiB limit is inclusive: a body of exactly 1,048,576 bytes goes out."""
    sizes: list[int] = []

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        sizes.append(len(await request.read()))
        return answer(202)

    odd_server.route("POST", "/v1/projects", handler)
    overhead = len(json.dumps({"brief": "", "idempotency_key": "k"}, separators=(",", ":")))
    async with odd_client(await odd_server.start()) as c:
        for size in (1_048_576, 1_048_577):  # past the brief's 20,000 characters: the transport
            body = {"brief": "x" * (size - overhead), "idempotency_key": "k"}
            if size > 1_048_576:
                with pytest.raises(PayloadTooLargeError):
                    await wiring_of(c).caller.call(
                        "POST", "/projects", _raw, options=c._options, body=body
                    )
            else:
                await wiring_of(c).caller.call(
                    "POST", "/projects", _raw, options=c._options, body=body
                )
    assert sizes == [1_048_576]


def _raw(data: Any, request_id: str | None) -> Any:
    return data


@pytest.mark.parametrize(
    ("body", "parses"),
    [
        (json.dumps(PROJECT), True),
        (" \n" + json.dumps(PROJECT) + "\r\n\t ", True),  # whitespace around: still JSON
        (json.dumps(PROJECT) + " x", False),  # junk after the document
        (json.dumps(PROJECT) + json.dumps(PROJECT), False),  # two documents
        (json.dumps(PROJECT) + "\u3000", False),  # not JSON whitespace
    ],
)
async def test_success_bodies_decode_exactly_as_json(
    odd_server: OddServer, odd_client: OddClient, body: str, *, parses: bool
) -> None:
    """A 2xx body is read as ``json.loads`` reads it: whitespace around it is fine, junk not."""

    async def handler(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return answer(200, body)

    odd_server.route("GET", "/v1/projects/{id}", handler)
    async with odd_client(await odd_server.start(), max_retries=0) as c:
        if parses:
            assert (await c.projects.get("prj_abcdefgh12")).raw == PROJECT
        else:
            with pytest.raises(APIResponseError, match="not JSON"):
                await c.projects.get("prj_abcdefgh12")
