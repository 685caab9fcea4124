"""The ``/_sim/`` control routes: accounts, faults, clock, logs, stats, failures.

Unauthenticated, answered only to loopback clients, never under ``/v1``.
Each route calls the same :class:`~._core.Simulation` method as the Python
interface of :class:`~videoagent.simulator.Simulator`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from ._api import SIMULATION, error_response, http_error, read_json
from ._faults import FAULT_KINDS, Faults
from ._http import ApiError, json_response
from ._validate import Field, check_body, enum, integer, nullable, number, string

__all__ = ["control_middleware", "routes"]

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The most the clock moves in one call: ten years (a datetime must still hold the time).
_MAX_ADVANCE = 10 * 365 * 86_400
_ACCOUNT: dict[str, Field] = {
    "credits": (integer(0, 10**12), False),
    "plan": (enum("free", "pro"), False),
    "api_key": (string(1, 255), False),
    "webhook_secret": (string(1, 255), False),
}
_KEY: dict[str, Field] = {"api_key": (string(1, 255), True), "name": (string(1, 100), False)}
_ADVANCE: dict[str, Field] = {"seconds": (number(0, _MAX_ADVANCE), True)}
_FAULTS: dict[str, Field] = {
    **{kind: (number(0, 1), False) for kind in FAULT_KINDS},
    "retry_after": (integer(1, 86_400), False),
    "slow_seconds": (number(0, 86_400), False),
    "only": (nullable(string(1, 2048)), False),
    "count": (nullable(integer(0, 10**9)), False),
}


def _bad(message: str) -> ApiError:
    return ApiError("validation_error", message)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


@web.middleware
async def control_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse non-loopback callers; any bad control request answers in the contract's format."""
    if not request.path.startswith("/_sim/"):
        return await handler(request)
    request_id = request.app[SIMULATION].ids.request_id()
    try:
        if not _is_loopback(request.remote):
            raise ApiError("forbidden", "control routes are loopback only")
        return await handler(request)
    except ApiError as exc:
        error = exc
    except web.HTTPException as exc:  # no such route or method
        error = http_error(exc)
    except (KeyError, TypeError, ValueError) as exc:  # what the checks did not foresee
        error = _bad(f"body: {exc}")
    response = error_response(error, request_id)
    response.headers["X-Request-Id"] = request_id
    return response


async def _body(request: web.Request, fields: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON object, each field checked (an empty body is ``{}``)."""
    body = await read_json(request, optional=True)
    problems = check_body(body, fields)
    if problems:
        raise _bad("; ".join(problems))
    valid: dict[str, Any] = body
    return valid


def _active_key(request: web.Request, api_key: str) -> str:
    """``api_key``, if it is an active key of this simulator."""
    if request.app[SIMULATION].registry.authenticate(api_key) is None:
        raise _bad("api_key: no active key of this simulator")
    return api_key


def _query_key(request: web.Request) -> str | None:
    """``?api_key=``, if given (an active key)."""
    api_key = request.query.get("api_key")
    return None if api_key is None else _active_key(request, api_key)


@routes.get("/_sim/health")
async def health(request: web.Request) -> web.Response:
    """The simulator is up."""
    return json_response({"ok": True})


@routes.post("/_sim/accounts")
async def add_account(request: web.Request) -> web.Response:
    """A new account: ``{credits?, plan?, api_key?, webhook_secret?}`` -> its id and key."""
    body = await _body(request, _ACCOUNT)
    sim = request.app[SIMULATION]
    if "api_key" in body and sim.registry.authenticate(body["api_key"]) is not None:
        raise _bad("api_key: that API key already belongs to an account")
    account, key = sim.add_account(**body)
    return json_response({"account_id": account.id, "api_key": key}, 201)


@routes.post("/_sim/keys")
async def add_key(request: web.Request) -> web.Response:
    """Another key for an account: ``{api_key, name?}`` -> the new key."""
    body = await _body(request, _KEY)
    api_key = _active_key(request, body["api_key"])
    try:
        key = request.app[SIMULATION].add_key(api_key, name=body.get("name", "extra"))
    except ValueError as exc:  # past the keys an account may have
        raise _bad(f"api_key: {exc}") from None
    return json_response({"api_key": key}, 201)


@routes.get("/_sim/faults")
async def get_faults(request: web.Request) -> web.Response:
    """The current fault rates."""
    return json_response(attrs.asdict(request.app[SIMULATION].faults.faults))


@routes.put("/_sim/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Replace the fault rates (fields of :class:`Faults`; absent ones are 0)."""
    sim = request.app[SIMULATION]
    sim.set_faults(Faults(**await _body(request, _FAULTS)))
    return json_response(attrs.asdict(sim.faults.faults))


@routes.get("/_sim/clock")
async def get_clock(request: web.Request) -> web.Response:
    """Time scale, unix and virtual (contract day) time, day index, seconds to midnight."""
    return json_response(request.app[SIMULATION].clock_view())


@routes.post("/_sim/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    """Move the clock forward: ``{"seconds": N}`` contract seconds."""
    sim = request.app[SIMULATION]
    sim.advance((await _body(request, _ADVANCE))["seconds"])
    return json_response(sim.clock_view())


@routes.get("/_sim/requests")
async def request_log(request: web.Request) -> web.Response:
    """The request log from ``?offset=N`` on (offsets count every request ever logged).

    ``next_offset`` is the offset of the next request; records older than
    the log's size are gone (``data`` then starts later than ``offset``).
    """
    log = request.app[SIMULATION].request_log
    text = request.query.get("offset", "0")
    if not (text.isascii() and text.isdigit()):
        raise _bad(f"offset: offset must be a whole number, got {text[:40]!r}")
    data = [attrs.asdict(record) for record in log.since(int(text))]
    return json_response({"data": data, "next_offset": log.total})


@routes.get("/_sim/stats")
async def stats(request: web.Request) -> web.Response:
    """Stats of ``?api_key=`` 's account, or of all accounts."""
    return json_response(attrs.asdict(request.app[SIMULATION].stats(_query_key(request))))


@routes.get("/_sim/projects")
async def projects(request: web.Request) -> web.Response:
    """Snapshots of ``?api_key=`` 's projects, or of all projects."""
    snapshots = request.app[SIMULATION].projects(_query_key(request))
    return json_response({"data": [attrs.asdict(s) for s in snapshots]})


@routes.post("/_sim/projects/{project_id}/fail")
async def fail_project(request: web.Request) -> web.Response:
    """Make a project fail at the end of its current phase (or its next run's first)."""
    sim, project_id = request.app[SIMULATION], request.match_info["project_id"]
    if project_id not in sim.registry.projects:
        raise _bad("project_id: no such project")
    project = sim.fail_project(project_id)
    return json_response({"project_id": project.id, "status": project.status})


@routes.get("/_sim/webhook-secret")
async def get_webhook_secret(request: web.Request) -> web.Response:
    """The secret webhooks of new accounts (and the default one) are signed with."""
    return json_response({"webhook_secret": request.app[SIMULATION].webhook_secret})


@routes.get("/_sim/webhooks")
async def webhooks(request: web.Request) -> web.Response:
    """Every webhook delivery attempted so far."""
    deliveries = request.app[SIMULATION].webhooks.deliveries
    return json_response({"data": [attrs.asdict(d) for d in deliveries]})
