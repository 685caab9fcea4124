"""FastAPI integration: one client and one watcher for the app's life, webhooks, and SSE.

Install with ``pip install 'videoagent[fastapi]'``. Example::

    from fastapi import FastAPI
    from videoagent.integrations.fastapi import (
        ClientDep, FeedDep, StateDep, WatcherDep, event_stream, lifespan, webhook_router,
    )

    app = FastAPI(lifespan=lifespan(
        webhook_secret=SECRET,                       # else VIDEOAGENT_WEBHOOK_SECRET
        webhook_url="https://app.example/webhooks/videoagent",
    ))
    app.include_router(webhook_router())

    @app.post("/videos")
    async def create(brief: str, client: ClientDep, watcher: WatcherDep, state: StateDep):
        project = await client.projects.create(brief, webhook_url=state.webhook_url)
        watcher.watch(project)
        return {"id": project.id}

    @app.get("/videos/{project_id}/events")
    async def events(project_id: str, feed: FeedDep):
        return event_stream(feed, project_id)

What each piece does:

* :func:`lifespan` opens one :class:`~videoagent.AsyncVideoAgent` at startup
  (so every route shares its request budget and active-project slots), uses
  its shared :class:`~videoagent.ProjectWatcher` (the one ``wait()`` uses:
  one scheduler, no project polled twice), runs a
  :class:`~videoagent.integrations.ProjectFeed` over it, and closes all of it
  at shutdown. The dependencies (``ClientDep``, ``WatcherDep``, ``FeedDep``,
  ``StateDep``) hand them to routes.
* :func:`webhook_router` verifies each webhook (``videoagent.webhooks``),
  answers 204 at once and only calls ``watcher.notify(project_id)``: the
  state always comes from ``GET /projects/{id}``.
* :func:`event_stream` streams one project's events to a browser as
  Server-Sent Events: its snapshot, then its changes. Every viewer reads the
  feed, never the API: the app polls each project once, however many people
  watch it. A project the app did not create is fetched once and followed;
  an unknown id answers 404.

SSE streams stay open until the viewer leaves, and uvicorn waits for open
responses before it shuts down: run it with ``timeout_graceful_shutdown``
(a few seconds) so a shutdown does not wait for the viewers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Annotated

import anyio
import attrs
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from videoagent._client import AsyncVideoAgent
from videoagent._config import WEBHOOK_SECRET_ENV, resolve_webhook_secret
from videoagent._errors import ConfigurationError, InvalidRequestError, NotFoundError
from videoagent._watcher import ProjectWatcher
from videoagent.webhooks import (
    DEFAULT_TOLERANCE,
    ID_HEADER,
    MAX_BODY_BYTES,
    WebhookError,
    WebhookVerifier,
    log_refusal,
)

from ._feed import FeedEvent, ProjectFeed, sse_format

__all__ = [
    "WEBHOOK_SECRET_ENV",
    "ClientDep",
    "FeedDep",
    "StateDep",
    "VideoAgentState",
    "WatcherDep",
    "event_stream",
    "get_client",
    "get_feed",
    "get_state",
    "get_watcher",
    "lifespan",
    "webhook_router",
]

logger = logging.getLogger("videoagent.integrations")


@attrs.frozen
class VideoAgentState:
    """What :func:`lifespan` opened, on ``app.state.videoagent`` for the app's life.

    Attributes:
        client: the one client; every route's calls share its limits.
        watcher: the client's shared watcher (``watch``, ``notify``, ``wait``).
        feed: the watcher's events, fanned out to SSE readers.
        webhook_url: the URL to pass as ``webhook_url`` when creating, if configured.
        verifier: checks webhooks (None: no secret configured, webhooks answer 503).
    """

    client: AsyncVideoAgent
    watcher: ProjectWatcher
    feed: ProjectFeed
    webhook_url: str | None = None
    verifier: WebhookVerifier | None = attrs.field(default=None, repr=False)


def lifespan(
    make_client: Callable[[], AsyncVideoAgent] = AsyncVideoAgent,
    *,
    webhook_secret: str | Iterable[str] | None = None,
    webhook_url: str | None = None,
    webhook_tolerance: float = DEFAULT_TOLERANCE,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan opening one client, its watcher and a feed; closing them at shutdown.

    Pass it as ``FastAPI(lifespan=lifespan(...))``, or enter it inside your
    own lifespan: ``async with lifespan(...)(app): ...``. An exception raised
    in that block (by an SDK call, say) comes out as itself, never inside an
    exception group; a failure of the feed comes out as a ``VideoAgentError``.

    Args:
        make_client: builds the client at startup (default: ``AsyncVideoAgent()``,
            configured from ``VIDEOAGENT_API_KEY`` / ``VIDEOAGENT_BASE_URL``).
            Use it to set ``time_scale``, ``limits`` or ``poll_policy``.
        webhook_secret: the account's webhook secret (or several); default
            ``VIDEOAGENT_WEBHOOK_SECRET``. Without one, webhooks answer 503.
        webhook_url: this app's public webhook URL, handed to routes as
            ``state.webhook_url`` for ``projects.create(webhook_url=...)``.
        webhook_tolerance: wall-clock seconds a webhook's timestamp may be off.
    """
    secret = webhook_secret if webhook_secret is not None else resolve_webhook_secret(None)

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncGenerator[None, None]:
        verifier = None
        if secret:
            verifier = WebhookVerifier(secret, tolerance=webhook_tolerance)
        async with make_client() as client:
            watcher = client.watcher
            async with ProjectFeed(watcher, client=client).running() as feed:
                app.state.videoagent = VideoAgentState(
                    client=client,
                    watcher=watcher,
                    feed=feed,
                    webhook_url=webhook_url,
                    verifier=verifier,
                )
                try:
                    yield
                finally:
                    del app.state.videoagent

    return run


# -- dependencies ----------------------------------------------------------------


def get_state(request: Request) -> VideoAgentState:
    """The app's :class:`VideoAgentState` (a dependency)."""
    state = getattr(request.app.state, "videoagent", None)
    if not isinstance(state, VideoAgentState):
        raise ConfigurationError(
            "no videoagent state on the app: create it with FastAPI(lifespan=lifespan(...))"
        )
    return state


def get_client(request: Request) -> AsyncVideoAgent:
    """The app's one client (a dependency)."""
    return get_state(request).client


def get_watcher(request: Request) -> ProjectWatcher:
    """The app's one watcher (a dependency)."""
    return get_state(request).watcher


def get_feed(request: Request) -> ProjectFeed:
    """The app's feed of project events (a dependency)."""
    return get_state(request).feed


StateDep = Annotated[VideoAgentState, Depends(get_state)]
ClientDep = Annotated[AsyncVideoAgent, Depends(get_client)]
WatcherDep = Annotated[ProjectWatcher, Depends(get_watcher)]
FeedDep = Annotated[ProjectFeed, Depends(get_feed)]


# -- webhooks --------------------------------------------------------------------


def webhook_router(*, path: str = "/webhooks/videoagent") -> APIRouter:
    """A router receiving the API's webhooks at ``POST path``.

    Verified ones answer 204 and call ``watcher.notify(project_id)``; refused
    ones answer 400 (missing or malformed), 401 (bad signature, stale
    timestamp), 409 (replay) or 413, logged without the body or the secret.
    """
    router = APIRouter()

    @router.post(path, status_code=204, include_in_schema=False)
    async def receive_webhook(request: Request) -> Response:
        state = get_state(request)
        if state.verifier is None:
            logger.warning("webhook refused: no webhook secret configured (%s)", WEBHOOK_SECRET_ENV)
            return Response(status_code=503)
        body = await _read_capped(request)
        try:
            if body is None:
                raise WebhookError("the body is too large", status=413, reason="too_large")
            event = state.verifier.verify(request.headers, body)
        except WebhookError as exc:
            client = request.client
            log_refusal(
                exc,
                remote=client.host if client else None,
                webhook_id=request.headers.get(ID_HEADER),
            )
            return Response(status_code=exc.status, content=exc.reason, media_type="text/plain")
        state.watcher.notify(event.project_id, status=event.status)
        return Response(status_code=204)

    return router


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None once it passes ``MAX_BODY_BYTES`` (the rest is not read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


# -- Server-Sent Events ----------------------------------------------------------


def event_stream(
    feed: ProjectFeed,
    project_id: str,
    *,
    heartbeat: float = 15.0,
    retry: float = 2.0,
) -> StreamingResponse:
    """A ``text/event-stream`` response of one project's events, from ``feed``.

    Frames are ``event: project`` (state and progress), ``decision``,
    ``message`` and ``failed``, each with one line of JSON (see
    :class:`~videoagent.integrations.FeedEvent`); the project's snapshot comes
    first. A comment line every ``heartbeat`` seconds (real time: it keeps
    proxies from closing an idle connection) and ``retry`` seconds for the
    browser to wait before reconnecting.

    Any project of the account can be followed, not only those the app
    created: before the stream starts, ``feed.follow`` watches it, fetching
    it first (one ``GET``, shared by everyone opening it at once) if the feed
    does not know it. An unknown project answers 404 instead of a stream; so
    does an id that does not look like ``prj_...`` (it names no project, as
    an unknown id does; nothing is sent to the API). Any other error of that
    ``GET`` (the API unreachable, say) is raised as itself, for the app's
    exception handlers. The stream itself makes no request: every viewer
    reads the feed.
    """

    async def frames() -> AsyncIterator[bytes]:
        yield f"retry: {round(retry * 1000)}\n\n".encode()
        async with feed.subscribe(project_id) as events:
            iterator = aiter(events)
            while True:
                event: FeedEvent | None = None
                with anyio.move_on_after(heartbeat):
                    try:
                        event = await anext(iterator)
                    except StopAsyncIteration:
                        return
                yield b": keep-alive\n\n" if event is None else sse_format(event)

    return _ProjectEventStream(feed, project_id, frames())


class _ProjectEventStream(StreamingResponse):
    """An event stream that follows its project first, or answers 404 if there is none."""

    def __init__(self, feed: ProjectFeed, project_id: str, frames: AsyncIterator[bytes]) -> None:
        super().__init__(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._feed = feed
        self._project_id = project_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._feed.follow(self._project_id)
        except (NotFoundError, InvalidRequestError):
            missing = JSONResponse({"detail": "no such project"}, status_code=404)
            await missing(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
