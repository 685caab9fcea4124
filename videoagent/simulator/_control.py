"""The ``/_sim/`` control routes: accounts, faults, clock, logs, stats, failures.

Unauthenticated, answered only to loopback clients, never under ``/v1``.
Each route calls the same :class:`~._core.Simulation` method as the Python
interface of :class:`~videoagent.simulator.Simulator`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web

from ._api import SIMULATION
from ._faults import Faults
from ._http import error_body, json_response

__all__ = ["control_middleware", "routes"]

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _BadControl(Exception):
    """A control request the simulator cannot honour (400)."""


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


@web.middleware
async def control_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse non-loopback callers; turn bad control input into a 400."""
    if not request.path.startswith("/_sim/"):
        return await handler(request)
    if not _is_loopback(request.remote):
        return json_response(error_body("forbidden", "control routes are loopback only", ""), 403)
    try:
        return await handler(request)
    except (_BadControl, KeyError, TypeError, ValueError) as exc:
        return json_response(error_body("validation_error", repr(exc), ""), 400)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise _BadControl("the body must be a JSON object")
    return body


def _api_key(request: web.Request) -> str | None:
    return request.query.get("api_key")


@routes.get("/_sim/health")
async def health(request: web.Request) -> web.Response:
    """The simulator is up."""
    return json_response({"ok": True})


@routes.post("/_sim/accounts")
async def add_account(request: web.Request) -> web.Response:
    """A new account: ``{credits?, plan?, api_key?, webhook_secret?}`` -> its id and key."""
    body = await _body(request)
    account, key = request.app[SIMULATION].add_account(**body)
    return json_response({"account_id": account.id, "api_key": key}, 201)


@routes.post("/_sim/keys")
async def add_key(request: web.Request) -> web.Response:
    """Another key for an account: ``{api_key, name?}`` -> the new key."""
    body = await _body(request)
    key = request.app[SIMULATION].add_key(body["api_key"], name=body.get("name", "extra"))
    return json_response({"api_key": key}, 201)


@routes.get("/_sim/faults")
async def get_faults(request: web.Request) -> web.Response:
    """The current fault rates."""
    return json_response(attrs.asdict(request.app[SIMULATION].faults.faults))


@routes.put("/_sim/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Replace the fault rates (fields of :class:`Faults`; absent ones are 0)."""
    sim = request.app[SIMULATION]
    sim.set_faults(Faults(**await _body(request)))
    return json_response(attrs.asdict(sim.faults.faults))


@routes.get("/_sim/clock")
async def get_clock(request: web.Request) -> web.Response:
    """Time scale, unix and virtual (contract day) time, day index, seconds to midnight."""
    return json_response(request.app[SIMULATION].clock_view())


@routes.post("/_sim/clock/advance")
async def advance_clock(request: web.Request) -> web.Response:
    """Move the clock forward: ``{"seconds": N}`` contract seconds."""
    sim = request.app[SIMULATION]
    sim.advance(float((await _body(request))["seconds"]))
    return json_response(sim.clock_view())


@routes.get("/_sim/requests")
async def request_log(request: web.Request) -> web.Response:
    """The request log from ``?offset=N`` on."""
    log = request.app[SIMULATION].request_log
    offset = int(request.query.get("offset", "0"))
    data = [attrs.asdict(record) for record in log[offset:]]
    return json_response({"data": data, "next_offset": len(log)})


@routes.get("/_sim/stats")
async def stats(request: web.Request) -> web.Response:
    """Stats of ``?api_key=`` 's account, or of all accounts."""
    return json_response(attrs.asdict(request.app[SIMULATION].stats(_api_key(request))))


@routes.get("/_sim/projects")
async def projects(request: web.Request) -> web.Response:
    """Snapshots of ``?api_key=`` 's projects, or of all projects."""
    snapshots = request.app[SIMULATION].projects(_api_key(request))
    return json_response({"data": [attrs.asdict(s) for s in snapshots]})


@routes.post("/_sim/projects/{project_id}/fail")
async def fail_project(request: web.Request) -> web.Response:
    """Make a project fail at the end of its current phase (or its next run's first)."""
    project = request.app[SIMULATION].fail_project(request.match_info["project_id"])
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
