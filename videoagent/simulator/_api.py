"""The ``/v1`` pipeline every request goes through, and the helpers handlers share.

In order: a request id; authentication (401); the request limit (429, the
request is counted when it arrives); an injected fault, if one is drawn; the
handler; then the contract's headers, the request log, and the faults that
act on the answer (slow, truncated, non-JSON, dropped). Any error becomes the
one error format; nothing escapes as a traceback.

"Every authenticated request counts, except those answered 429": a request
that passed the window but is answered 429 anyway (``project_limit``, the
daily render limit) is taken back out of the window when its answer is known.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web

from ._core import Simulation
from ._http import ApiError, error_body, json_response
from ._model import Account, Project
from ._ratelimit import SlidingWindow
from ._records import RequestRecord

__all__ = [
    "MAX_BODY",
    "SIMULATION",
    "Handler",
    "api_middleware",
    "caller",
    "error_response",
    "http_error",
    "read_json",
    "success",
    "the_project",
]

_log = logging.getLogger(__name__)

#: Request bodies above this many bytes answer 413 before any parsing.
MAX_BODY = 1_048_576

SIMULATION = web.AppKey("simulation", Simulation)
#: The account of the request being handled (each request runs in its own task).
_CALLER: ContextVar[Account] = ContextVar("videoagent_simulator_caller")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The request's JSON body; 413 past :data:`MAX_BODY`, 400 if it is not JSON."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError("payload_too_large", f"request body exceeds {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError("payload_too_large", f"request body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip() and optional:
        return {}
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError("validation_error", "body: body must be valid JSON") from exc


def caller() -> Account:
    """The authenticated account of the request being handled."""
    return _CALLER.get()


def success(request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
    """A success body, with ``credits_warning`` while the balance is low."""
    account: Account = caller()
    threshold = request.app[SIMULATION].settings.warning_threshold
    if account.credits < threshold:
        body["credits_warning"] = {"balance": account.credits, "threshold": threshold}
    return json_response(body, status)


def the_project(request: web.Request) -> Project:
    """The path's project, brought up to date; 404 unless it is the caller's."""
    sim = request.app[SIMULATION]
    project = sim.registry.projects.get(request.match_info.get("project_id", ""))
    if project is None or project.account is not caller():
        raise ApiError("not_found", "no such project")
    sim.touch(project)
    return project


def http_error(exc: web.HTTPException) -> ApiError:
    """The contract's error for an aiohttp HTTP exception (no route, no such method, ...)."""
    if exc.status == 405:  # the vendor's table has no 405: no such resource for this method
        return ApiError("not_found", "no such resource: this path does not allow that method")
    if exc.status == 413:
        return ApiError("payload_too_large", f"request body exceeds {MAX_BODY} bytes")
    if exc.status == 404:
        return ApiError("not_found", "no such resource")
    return ApiError("validation_error", f"request: {exc.reason}")


def _authenticate(sim: Simulation, request: web.Request) -> Account:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    found = sim.registry.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise ApiError("unauthorized", "missing or invalid API key")
    return found[0]


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run one ``/v1`` request through the whole pipeline (see the module docstring)."""
    sim = request.app[SIMULATION]
    clock = sim.clock
    request_id = sim.ids.request_id()
    arrived, arrived_unix = clock.now(), clock.unix()
    account: Account | None = None
    admitted = False
    fault: str | None = None
    try:
        account = _authenticate(sim, request)
        _CALLER.set(account)
        admitted = _admit(sim, account, arrived)
        fault = sim.faults.draw(request.method, request.path)
        _inject(sim, fault)
        if request.method not in ("GET", "HEAD") and (request.content_length or 0) > MAX_BODY:
            raise ApiError("payload_too_large", f"request body exceeds {MAX_BODY} bytes")
        response: web.StreamResponse = await handler(request)
        code = None
    except ApiError as exc:
        response, code = error_response(exc, request_id), exc.code
    except web.HTTPException as exc:
        error = http_error(exc)
        response, code = error_response(error, request_id), error.code
        if exc.status == 405 and "Allow" in exc.headers:  # a hint beside the 404
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        _log.exception("simulator bug answering %s %s", request.method, request.path)
        response, code = (
            error_response(ApiError("internal_error", "internal error"), request_id),
            "internal_error",
        )
    counted = admitted and response.status != 429
    if account is not None and account.window is not None:
        _settle(sim, account.window, response, arrived, counted=counted, admitted=admitted)
    elif sim.settings.request_limit is not None:  # no account: a full, untouched window
        limit = str(sim.settings.request_limit)
        response.headers["X-RateLimit-Limit"] = response.headers["X-RateLimit-Remaining"] = limit
        response.headers["X-RateLimit-Reset"] = str(math.ceil(clock.unix()))
    if counted:
        assert account is not None
        account.requests += 1
    response.headers["X-Request-Id"] = request_id
    if sim.log_requests:
        sim.request_log.append(
            RequestRecord(
                at=arrived_unix,
                account=account.id if account is not None else None,
                method=request.method,
                path=request.path,
                status=None if fault == "drop" else response.status,
                code=code,
                request_id=request_id,
                fault=fault,
                counted=counted,
            )
        )
    if fault in ("drop", "slow", "truncate", "non_json"):
        return await _spoil(request, response, fault, sim)
    return response


def _admit(sim: Simulation, account: Account, arrived: float) -> bool:
    """Count the arrival against the account's window; 429 ``rate_limited`` if it is full."""
    window = account.window
    if window is None:
        return True
    answer = window.arrive(arrived)
    if not answer.admitted:
        account.rate_limited += 1
        raise ApiError(
            "rate_limited",
            f"more than {window.limit} requests in {sim.settings.request_window:g} s",
            retry_after=max(1, sim.clock.contract(answer.reset_in)),
        )
    return True


def _inject(sim: Simulation, fault: str | None) -> None:
    """The 500 and 503 faults answer at once (the others spoil the handler's answer)."""
    if fault == "error_500":
        raise ApiError("internal_error", "injected fault: internal error")
    if fault == "error_503":
        raise ApiError(
            "service_unavailable",
            "injected fault: temporarily unavailable",
            retry_after=sim.faults.faults.retry_after,
        )


def _settle(
    sim: Simulation,
    window: SlidingWindow,
    response: web.StreamResponse,
    arrived: float,
    *,
    counted: bool,
    admitted: bool,
) -> None:
    """Un-count an admitted request answered 429; write the ``X-RateLimit-*`` headers."""
    if admitted and not counted:
        window.retract(arrived)
    elif counted:
        window.settle(arrived)
    figures = window.peek(sim.clock.now())
    headers = response.headers
    headers["X-RateLimit-Limit"] = str(window.limit)
    headers["X-RateLimit-Remaining"] = str(figures.remaining)
    headers["X-RateLimit-Reset"] = str(math.ceil(sim.clock.unix_after(figures.reset_in)))


def error_response(exc: ApiError, request_id: str) -> web.Response:
    """``exc`` in the one error format, with its ``Retry-After`` if it has one."""
    response = json_response(error_body(exc.code, exc.message, request_id), exc.status)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _spoil(
    request: web.Request, response: web.StreamResponse, fault: str, sim: Simulation
) -> web.StreamResponse:
    """Apply a fault that acts on an answer the handler already produced."""
    if fault == "slow":
        await asyncio.sleep(sim.clock.scaled(sim.faults.faults.slow_seconds))
        return response
    if fault == "non_json":
        page = web.Response(
            text="<html><body><h1>502 Bad Gateway</h1></body></html>",
            status=response.status,
            content_type="text/html",
        )
        for name in (
            "X-Request-Id",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ):
            if name in response.headers:
                page.headers[name] = response.headers[name]
        return page
    transport = request.transport
    if fault == "truncate" and isinstance(response, web.Response) and response.body is not None:
        body = bytes(response.body)  # type: ignore[arg-type]  # a JSON answer: bytes
        cut = web.StreamResponse(status=response.status, headers=response.headers)
        cut.content_length = len(body)
        await cut.prepare(request)
        await cut.write(body[: len(body) // 2])
        if transport is not None:
            transport.close()
        return cut
    if transport is not None:  # drop: close the connection, answer nothing
        transport.close()
    raise asyncio.CancelledError
