"""The ``/v1/account`` and ``/v1/api-keys`` routes."""

from __future__ import annotations

from aiohttp import web

from ._api import SIMULATION, caller, read_json, success
from ._http import ApiError
from ._state import KeyLimitError
from ._validate import Field, check_body, string
from ._views import account_view, key_view

__all__ = ["routes"]

routes = web.RouteTableDef()

_KEY: dict[str, Field] = {"name": (string(1, 100), True)}


@routes.get("/v1/account")
async def get_account(request: web.Request) -> web.Response:
    """Credits, plan and today's usage."""
    sim, account = request.app[SIMULATION], caller()
    sim.engine.advance_active(account.active, sim.clock.now())
    sim.registry.roll_day(account)
    return success(request, account_view(account))


@routes.get("/v1/api-keys")
async def list_keys(request: web.Request) -> web.Response:
    """The account's active keys, oldest first (never their secrets)."""
    account = caller()
    return success(
        request, {"object": "list", "data": [key_view(k) for k in account.active_keys()]}
    )


@routes.post("/v1/api-keys")
async def create_key(request: web.Request) -> web.Response:
    """A new key, its secret shown this once; 409 past the account's maximum."""
    sim, account = request.app[SIMULATION], caller()
    body = await read_json(request)
    problems = check_body(body, _KEY, closed=False)
    if problems:
        raise ApiError("validation_error", "; ".join(problems))
    try:
        key = sim.registry.add_key(account, name=body["name"])
    except KeyLimitError as exc:
        raise ApiError("conflict", str(exc)) from exc
    return success(request, {**key_view(key), "key": key.secret}, 201)


@routes.delete("/v1/api-keys/{key_id}")
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke one of the account's keys."""
    sim, account = request.app[SIMULATION], caller()
    if not sim.registry.revoke(account, request.match_info["key_id"]):
        raise ApiError("not_found", "no such active key")
    return web.Response(status=204)
