"""Helpers of the integration tests: uvicorn on loopback, an SSE reader, a webhook tap."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import anyio
import attrs
import uvicorn

from videoagent import AsyncVideoAgent, PollPolicy
from videoagent.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fastapi_app" / "app.py"

#: Contract seconds between routine polls, so long (1000 real seconds at 0.01)
#: that within a test only a webhook can make the app look at a project.
NEVER = 100_000.0
WEBHOOKS_ONLY = PollPolicy(
    queued=NEVER, running=NEVER, generating=(NEVER, NEVER), rendering=NEVER, unknown=NEVER
)
#: Each phase lasts this long (10 real seconds at 0.01): tests move projects on with
#: ``sim.advance(PHASE)``, one status per step. Four steps move the simulator's clock
#: 40 s ahead of ours, well inside the webhooks' 300 s tolerance.
PHASE = 1000.0
STEPPED = dict.fromkeys(("queued", "running", "generating", "rendering"), (PHASE, PHASE))

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def load_example() -> ModuleType:
    """The example service's module, loaded from its file."""
    name = "videoagent_example_fastapi_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def example_app(sim: Simulator, public_url: str, *, policy: PollPolicy | None = None) -> Any:
    """The example service on ``sim``'s default account, reachable at ``public_url``."""
    module = load_example()
    return module.create_app(
        lambda: AsyncVideoAgent(
            sim.api_key, sim.base_url, time_scale=sim.time_scale, poll_policy=policy
        ),
        webhook_secret=sim.webhook_secret,
        public_url=public_url,
    )


def bind_loopback() -> tuple[socket.socket, str]:
    """A listening socket on a free loopback port, and its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    return sock, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, sock: socket.socket) -> AsyncIterator[uvicorn.Server]:
    """Run ``app`` under uvicorn on ``sock`` (lifespan included) while the block runs."""
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        ws="none",
        http="h11",
        timeout_graceful_shutdown=1,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve, [sock])
        # uvicorn has no "started" event; startup (the app's lifespan included) is short.
        while not server.started and not server.should_exit:  # noqa: ASYNC110 - uvicorn sets a flag, no event
            await anyio.sleep(0.005)
        assert server.started, "uvicorn did not start (see the log)"
        try:
            yield server
        finally:
            server.should_exit = True


@attrs.frozen
class SeenWebhook:
    """A webhook request as the app got it (``at``: the simulator's unix clock)."""

    at: float
    headers: dict[str, str]
    body: bytes
    status: int


class WebhookTap:
    """ASGI middleware recording each webhook request and the status the app answered."""

    def __init__(self, app: ASGIApp, clock: Callable[[], float]) -> None:
        self.app = app
        self.clock = clock
        self.seen: list[SeenWebhook] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        at = self.clock()
        chunks: list[bytes] = []
        answer: MutableMapping[str, int] = {}

        async def tee() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def watch_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            await send(message)

        await self.app(scope, tee, watch_send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(SeenWebhook(at, headers, b"".join(chunks), answer.get("status", 0)))


class SSEStream:
    """One Server-Sent Events connection, read frame by frame."""

    def __init__(self, response: aiohttp.ClientResponse, clock: Callable[[], float]) -> None:
        self.response = response
        self.clock = clock
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.comments = 0
        self.retry: int | None = None

    async def next(self) -> tuple[str, dict[str, Any]]:
        """The next event (comments and ``retry:`` lines are counted, not returned)."""
        kind, data = "message", ""
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("retry:"):
                self.retry = int(line.split(":", 1)[1])
            elif line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data += line.split(":", 1)[1].strip()
            elif line == "" and data:
                parsed: dict[str, Any] = json.loads(data)
                self.events.append((self.clock(), kind, parsed))
                return kind, parsed

    async def heartbeat(self) -> None:
        """Read lines until a comment line (a keep-alive) comes."""
        before = self.comments
        while self.comments == before:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode()
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("retry:"):
                self.retry = int(line.split(":", 1)[1])

    async def until(self, predicate: Callable[[str, dict[str, Any]], bool]) -> dict[str, Any]:
        """Read events until one matches; its data."""
        while True:
            kind, data = await self.next()
            if predicate(kind, data):
                return data

    def statuses(self) -> list[str]:
        """The distinct statuses of its ``project`` events, in order."""
        seen: list[str] = []
        for _, kind, data in self.events:
            if kind == "project" and (not seen or seen[-1] != data["status"]):
                seen.append(data["status"])
        return seen


@contextlib.asynccontextmanager
async def open_sse(
    session: aiohttp.ClientSession, url: str, clock: Callable[[], float]
) -> AsyncIterator[SSEStream]:
    """GET ``url`` as an event stream (no read timeout); closed when the block ends."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with session.get(url, timeout=timeout) as response:
        assert response.status == 200, response.status
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield SSEStream(response, clock)


def project_gets(sim: Simulator, project_id: str) -> list[float]:
    """Arrival times of the ``GET /projects/{id}`` requests the simulator saw."""
    path = f"/v1/projects/{project_id}"
    return [r.at for r in sim.request_log if r.method == "GET" and r.path == path]


async def wait_until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition()`` holds (the test's timeout bounds it)."""
    while not condition():  # noqa: ASYNC110 - uvicorn sets a flag, no event - another process's state: nothing to wait on
        await anyio.sleep(0.005)
