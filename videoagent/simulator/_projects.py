"""The ``/v1/projects`` routes: create, list, get, messages, settings, cancel, render, result."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._api import SIMULATION, caller, read_json, success, the_project
from ._core import Simulation
from ._http import ApiError
from ._model import ACTIVE, STATUSES, Account, IdempotencyEntry, Message, Project
from ._validate import Field, check_body, enum, integer_param, metadata, string, uri
from ._views import iso, message_view, project_view

__all__ = ["routes"]

routes = web.RouteTableDef()

_CREATE: dict[str, Field] = {
    "brief": (string(1, 20_000), True),
    "mode": (enum("autonomous", "collaborative"), False),
    "idempotency_key": (string(1, 255), False),
    "webhook_url": (uri(), False),
    "metadata": (metadata(20, 500), False),
}
_MESSAGE: dict[str, Field] = {"content": (string(1, 20_000), True)}
_SETTINGS: dict[str, Field] = {
    "mode": (enum("autonomous", "collaborative"), False),
    "webhook_url": (uri(nullable=True), False),
}
_RENDER: dict[str, Field] = {"resolution": (enum("1080p", "4k"), False)}
#: length of the packaged sample video, seconds
_DURATION = 2.0


def _valid(body: Any, fields: dict[str, Field]) -> dict[str, Any]:
    problems = check_body(body, fields)
    if problems:
        raise ApiError("validation_error", "; ".join(problems))
    valid: dict[str, Any] = body
    return valid


def _view(sim: Simulation, project: Project) -> dict[str, Any]:
    return project_view(project, sim.engine.progress(project, sim.clock.now()))


def _take_slot(sim: Simulation, account: Account, now: float) -> None:
    """429 ``project_limit`` unless one more project may become active now."""
    limit = sim.settings.active_limit
    sim.engine.advance_active(account.active, now)
    if limit is not None and len(account.active) >= limit:
        account.project_limited += 1
        soonest = min(
            (p.phase_started + sim.engine.time_to_rest(p) - now for p in account.active),
            default=0.0,
        )
        raise ApiError(
            "project_limit",
            f"{limit} projects are already active",
            retry_after=max(1, sim.clock.contract(soonest)),
        )


def _require_credits(account: Account, cost: int, action: str) -> None:
    """402 ``insufficient_credits`` unless the balance covers ``cost``."""
    if account.credits < cost:
        raise ApiError(
            "insufficient_credits",
            f"{action} needs {cost} credits; the balance is {account.credits}",
        )


@routes.post("/v1/projects")
async def create_project(request: web.Request) -> web.Response:
    """Create a project (202), or replay an idempotent create (200)."""
    sim, account = request.app[SIMULATION], caller()
    body = _valid(await read_json(request), _CREATE)
    now, settings = sim.clock.now(), sim.settings
    meta: dict[str, str] = body.get("metadata", {})
    mode: str = body.get("mode", "autonomous")
    fingerprint = (body["brief"], mode, body.get("webhook_url"), tuple(sorted(meta.items())))
    key: str | None = body.get("idempotency_key")
    if key is not None:
        sim.registry.forget_idempotency(account, now)
        entry = account.idempotency.get(key)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise ApiError("conflict", "idempotency_key: reused with different parameters")
            sim.touch(entry.project)
            return success(request, _view(sim, entry.project), 200)
    _require_credits(account, settings.create_cost, "creating a project")
    sim.registry.roll_day(account)
    if (
        settings.projects_per_day is not None
        and account.projects_today >= settings.projects_per_day
    ):
        account.project_limited += 1
        raise ApiError(
            "project_limit",
            f"{settings.projects_per_day} projects a day already created",
            retry_after=sim.clock.seconds_to_midnight(),
        )
    _take_slot(sim, account, now)
    account.credits -= settings.create_cost
    unix = sim.clock.unix()
    project = Project(
        id=sim.ids.make("prj"),
        account=account,
        brief=body["brief"],
        mode=mode,
        webhook_url=body.get("webhook_url"),
        metadata=dict(meta),
        created_at=unix,
        updated_at=unix,
        decision_points_left=sim.engine.decision_points(),
        idempotency_key=key,
    )
    sim.registry.projects[project.id] = project
    account.add_project(project)
    account.projects_created += 1
    account.projects_today += 1
    if key is not None:
        account.idempotency[key] = IdempotencyEntry(project, fingerprint, now)
        account.idempotency_order.append(key)
    sim.engine.start(project, "plan", now)
    return success(request, _view(sim, project), 202)


@routes.get("/v1/projects")
async def list_projects(request: web.Request) -> web.Response:
    """The caller's projects, newest first, ``after`` a project id, ``limit`` a page."""
    sim, account = request.app[SIMULATION], caller()
    query, problems = request.query, list[str]()
    limit = integer_param(query, "limit", default=20, low=1, high=100, problems=problems)
    status = query.get("status")
    if status is not None and status not in STATUSES:
        problems.append(f"status: status must be one of {', '.join(STATUSES)}")
    start = len(account.projects) - 1
    after = query.get("after")
    if after is not None:
        index = account.project_index.get(after)
        if index is None:
            problems.append("after: no such project")
        else:
            start = index - 1
    if problems:
        raise ApiError("validation_error", "; ".join(problems))
    page: list[dict[str, Any]] = []
    has_more = False
    for index in range(start, -1, -1):
        project = account.projects[index]
        sim.touch(project)
        if status is not None and project.status != status:
            continue
        if len(page) == limit:
            has_more = True
            break
        page.append(_view(sim, project))
    return success(request, {"object": "list", "data": page, "has_more": has_more})


@routes.get("/v1/projects/{project_id}")
async def get_project(request: web.Request) -> web.Response:
    """One project: the polling call."""
    return success(request, _view(request.app[SIMULATION], the_project(request)))


@routes.post("/v1/projects/{project_id}/messages")
async def send_message(request: web.Request) -> web.Response:
    """Feedback at a decision point or on a finished project, or a retry of a failed one."""
    sim, account = request.app[SIMULATION], caller()
    raw = await read_json(request)
    project = the_project(request)
    body = _valid(raw, _MESSAGE)
    if project.status in ACTIVE or project.status == "cancelled":
        raise ApiError("conflict", f"project is {project.status}; messages need idle or failed")
    now = sim.clock.now()
    _require_credits(account, sim.settings.message_cost, "sending a message")
    _take_slot(sim, account, now)
    account.credits -= sim.settings.message_cost
    message = Message(
        id=sim.ids.make("msg"),
        project_id=project.id,
        role="user",
        content=body["content"],
        created_at=sim.clock.unix(),
    )
    project.add_message(message)
    sim.engine.start(project, "plan", now)
    return success(request, {"message": message_view(message), "project": _view(sim, project)}, 202)


@routes.get("/v1/projects/{project_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """A project's messages, oldest first, only those ``after`` a message id."""
    project = the_project(request)
    query, problems = request.query, list[str]()
    limit = integer_param(query, "limit", default=50, low=1, high=100, problems=problems)
    start = 0
    after = query.get("after")
    if after is not None:
        index = project.message_index.get(after)
        if index is None:
            problems.append("after: no such message in this project")
        else:
            start = index + 1
    if problems:
        raise ApiError("validation_error", "; ".join(problems))
    page = project.messages[start : start + limit]
    return success(
        request,
        {
            "object": "list",
            "data": [message_view(m) for m in page],
            "has_more": start + limit < len(project.messages),
        },
    )


@routes.patch("/v1/projects/{project_id}/settings")
async def update_settings(request: web.Request) -> web.Response:
    """Switch the mode (effective at the next decision point) or the webhook URL."""
    sim = request.app[SIMULATION]
    raw = await read_json(request)
    project = the_project(request)
    body = _valid(raw, _SETTINGS)
    if not body:
        raise ApiError("validation_error", "body: at least one of mode, webhook_url is required")
    if "mode" in body:
        project.mode = body["mode"]
    if "webhook_url" in body:
        project.webhook_url = body["webhook_url"]
        if project.webhook_url is not None:
            sim.webhooks.schedule(project)
    project.updated_at = sim.clock.unix()
    return success(request, _view(sim, project))


@routes.post("/v1/projects/{project_id}/cancel")
async def cancel_project(request: web.Request) -> web.Response:
    """Stop an active or idle project."""
    sim = request.app[SIMULATION]
    project = the_project(request)
    if project.status in ("cancelled", "failed"):
        raise ApiError("conflict", f"project is already {project.status}")
    sim.engine.cancel(project, sim.clock.now())
    return success(request, _view(sim, project))


@routes.post("/v1/projects/{project_id}/render")
async def render_project(request: web.Request) -> web.Response:
    """Render an idle project with a finished plan at a resolution (4K: Pro plan only)."""
    sim, account = request.app[SIMULATION], caller()
    raw = await read_json(request, optional=True)
    project = the_project(request)
    resolution: str = _valid(raw, _RENDER).get("resolution", "1080p")
    if resolution == "4k" and account.plan != "pro":
        raise ApiError("forbidden", "4k renders need the Pro plan")
    if project.status != "idle" or not project.has_result:
        raise ApiError("conflict", f"project is {project.status} without a finished plan")
    now, per_day = sim.clock.now(), sim.settings.renders_per_day
    _take_slot(sim, account, now)
    sim.registry.roll_day(account)
    if per_day is not None and account.renders_today >= per_day:
        account.rate_limited += 1
        raise ApiError(
            "rate_limited",
            f"{per_day} renders a day already started",
            retry_after=sim.clock.seconds_to_midnight(),
        )
    project.resolution = resolution
    project.renders += 1
    account.renders_today += 1
    account.renders_started += 1
    sim.engine.start(project, "render", now)
    return success(request, _view(sim, project), 202)


@routes.get("/v1/projects/{project_id}/result")
async def get_result(request: web.Request) -> web.Response:
    """A fresh pre-signed URL for the project's video, with its size and SHA-256."""
    sim = request.app[SIMULATION]
    project = the_project(request)
    if project.status != "idle" or not project.has_result:
        raise ApiError("conflict", f"project is {project.status} and has no result yet")
    args = (project.id, project.version, project.resolution)
    url, expires = sim.videos.sign(*args)
    size, digest = sim.videos.describe(*args)
    return success(
        request,
        {
            "object": "result",
            "project_id": project.id,
            "video_url": url,
            "expires_at": iso(expires),
            "resolution": project.resolution,
            "duration_seconds": _DURATION,
            "size_bytes": size,
            "sha256": digest,
        },
    )
