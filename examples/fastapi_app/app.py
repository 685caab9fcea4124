"""A small video service on videoagent and FastAPI: briefs in, live progress out.

* ``POST /api/projects`` creates a project from a brief (through the one
  client's limits: a sixth concurrent project waits for a free slot).
* ``GET /api/projects`` lists the projects with their live status, from the
  watcher's feed (no API request per call).
* ``GET /`` is a page that shows a project's progress live over Server-Sent
  Events (``GET /api/projects/{id}/events``, for any project of the account)
  and answers a collaborative decision point
  (``POST /api/projects/{id}/messages``). Its list tells the projects waiting
  for an answer from the finished ones.
* ``GET /api/projects/{id}/video`` serves the video, downloaded once and
  verified by sha256.
* ``POST /webhooks/videoagent`` receives the API's signed webhooks, so status
  changes show at once instead of at the next poll.

Run it against the simulator (see README.md)::

    python examples/fastapi_app/app.py --simulate
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, Field

from videoagent import AsyncVideoAgent, ConflictError, NotFoundError
from videoagent.integrations import project_data
from videoagent.integrations.fastapi import (
    ClientDep,
    FeedDep,
    StateDep,
    event_stream,
    lifespan,
    webhook_router,
)

PAGE = Path(__file__).with_name("index.html")
#: Projects listed from the API at startup (newest first), so a restarted app shows them.
STARTUP_LIST = 100


class BriefIn(BaseModel):
    """A new video: its brief and how the agent should work."""

    brief: str = Field(min_length=1, max_length=4000)
    mode: Literal["autonomous", "collaborative"] = "collaborative"


class FeedbackIn(BaseModel):
    """An answer at a decision point."""

    content: str = Field(min_length=1, max_length=4000)


def create_app(
    make_client: Callable[[], AsyncVideoAgent] = AsyncVideoAgent,
    *,
    webhook_secret: str | None = None,
    public_url: str | None = None,
    video_dir: Path | None = None,
) -> FastAPI:
    """The service; ``public_url`` is where the API can reach it (for webhooks)."""
    webhook_url = f"{public_url.rstrip('/')}/webhooks/videoagent" if public_url else None
    videoagent_lifespan = lifespan(
        make_client, webhook_secret=webhook_secret, webhook_url=webhook_url
    )
    videos = video_dir or Path(tempfile.mkdtemp(prefix="videoagent-app-"))

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with videoagent_lifespan(app):
            state = app.state.videoagent
            seen = 0  # the newest projects; each passes through the feed as it is parsed
            async for project in state.client.projects.list(limit=STARTUP_LIST):
                if project.status.is_active:
                    state.watcher.watch(project)
                seen += 1
                if seen >= STARTUP_LIST:
                    break
            yield

    app = FastAPI(title="videoagent example", lifespan=run)
    app.include_router(webhook_router())
    _add_routes(app, videos)
    return app


def _add_routes(app: FastAPI, videos: Path) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE.read_text(encoding="utf-8")

    @app.post("/api/projects", status_code=201)
    async def create(body: BriefIn, state: StateDep) -> dict[str, Any]:
        project = await state.client.projects.create(
            body.brief, mode=body.mode, webhook_url=state.webhook_url
        )
        state.watcher.watch(project)
        state.feed.update(project)
        return project_data(project)

    @app.get("/api/projects")
    async def list_projects(feed: FeedDep) -> list[dict[str, Any]]:
        return [project_data(project) for project in feed.projects()]

    @app.get("/api/projects/{project_id}")
    async def get_project(project_id: str, feed: FeedDep) -> dict[str, Any]:
        project = feed.get(project_id)
        if project is None:
            raise HTTPException(404, "no such project")
        return project_data(project)

    @app.get("/api/projects/{project_id}/events")
    async def events(project_id: str, feed: FeedDep) -> Response:
        return event_stream(feed, project_id)  # any project of the account; 404 if none

    @app.post("/api/projects/{project_id}/messages", status_code=202)
    async def answer(project_id: str, body: FeedbackIn, state: StateDep) -> dict[str, Any]:
        if state.feed.get(project_id) is None:
            raise HTTPException(404, "no such project")
        try:
            accepted = await state.client.projects.send_message(project_id, body.content)
        except ConflictError as exc:
            raise HTTPException(409, "the project is not waiting for an answer") from exc
        state.watcher.watch(accepted.project)
        state.feed.update(accepted.project)
        state.feed.record(accepted.message)
        return project_data(accepted.project)

    @app.get("/api/projects/{project_id}/video")
    async def video(project_id: str, client: ClientDep, feed: FeedDep) -> FileResponse:
        project = feed.get(project_id)
        if project is None or not project.has_result:
            raise HTTPException(404, "no video yet")
        stamp = int(project.updated_at.timestamp())
        path = videos / f"{project_id}-{stamp}.mp4"
        if not path.exists():
            try:
                await client.projects.download(project_id, path)  # verified by sha256
            except NotFoundError as exc:
                raise HTTPException(404, "no video yet") from exc
        return FileResponse(path, media_type="video/mp4", filename=f"{project_id}.mp4")

    @app.middleware("http")
    async def no_store(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def main(argv: list[str] | None = None) -> None:
    """Serve the app with uvicorn, against the simulator or the API of the environment."""
    import uvicorn  # noqa: PLC0415 - only the command needs it

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--simulate", action="store_true", help="start a local simulator")
    parser.add_argument("--time-scale", type=float, default=0.05, help="with --simulate")
    parser.add_argument("--seed", type=int, default=1, help="with --simulate")
    parser.add_argument("--public-url", help="where the API reaches this app (webhooks)")
    args = parser.parse_args(argv)
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    serve: dict[str, Any] = {"host": args.host, "port": args.port, "timeout_graceful_shutdown": 2}

    if not args.simulate:
        app = create_app(public_url=public_url)  # VIDEOAGENT_* from the environment
        uvicorn.run(app, **serve)
        return

    from videoagent.simulator import BackgroundSimulator  # noqa: PLC0415 - only with --simulate

    with BackgroundSimulator(time_scale=args.time_scale, seed=args.seed) as sim:
        app = create_app(
            lambda: AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale),
            webhook_secret=sim.webhook_secret,
            public_url=public_url,
        )
        print(f"simulator at {sim.base_url}; open http://{args.host}:{args.port}/", flush=True)
        uvicorn.run(app, **serve)


if __name__ == "__main__":
    main()
