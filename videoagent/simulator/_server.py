"""``Simulator``: the simulated API served on loopback, in-process."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from . import _accounts, _projects
from ._api import SIMULATION, Handler, api_middleware
from ._clock import Clock
from ._control import control_middleware
from ._control import routes as control_routes
from ._core import Simulation
from ._faults import Faults
from ._log import DEFAULT_LOG_SIZE
from ._records import DownloadRecord, ProjectSnapshot, RequestRecord, SimulatorStats
from ._settings import Settings
from ._views import account_view
from ._webhooks import Delivery

__all__ = ["Simulator"]

_log = logging.getLogger(__name__)


@web.middleware
async def _v1_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/") or request.path == "/v1":
        return await api_middleware(request, handler)
    return await handler(request)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Simulator:
    """The video-agent API, simulated faithfully, on loopback.

    Example::

        async with Simulator(time_scale=0.01, seed=7) as sim:
            client = AsyncVideoAgent(api_key=sim.api_key, base_url=sim.base_url, time_scale=0.01)

    Every time argument is in contract seconds; the simulator lives them
    ``time_scale`` times as long (``0.01``: 100 times faster than real).
    Results are served from a second port (another origin, no auth).

    Args:
        host, port: where the API listens (``port=0``: a free port).
        time_scale: real seconds per contract second.
        seed: makes ids, durations, decisions and faults reproducible.
        api_key: the key of the default account (10,000 credits, free plan).
        webhook_secret: the secret webhooks are signed with (else generated).
        request_limit, request_window: requests per sliding window per account
            (``request_limit=None``: no request limit and no rate-limit headers).
        active_limit: active projects per account at once (``None``: no limit).
        projects_per_day, renders_per_day: daily limits per account.
        max_keys: active keys per account.
        durations: ``{status: (low, high)}`` overriding the contract's ranges.
        failure_rate: probability that a run fails at one of its phases.
        decision_points: ``(low, high)`` decision points per collaborative project.
        log_requests: keep :attr:`request_log` (turn off for long benchmarks).
        log_size: records each log keeps, the newest (request, download and
            webhook logs; ``None``: all of them, growing without bound). Counts
            (:meth:`stats`, ``/_sim/requests``'s ``next_offset``) stay exact.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        seed: int | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        request_limit: int | None = 30,
        request_window: float = 60.0,
        active_limit: int | None = 5,
        projects_per_day: int | None = 200,
        renders_per_day: int | None = 50,
        max_keys: int = 10,
        durations: Mapping[str, tuple[float, float]] | None = None,
        failure_rate: float = 0.0,
        decision_points: tuple[int, int] = (1, 2),
        log_requests: bool = True,
        log_size: int | None = DEFAULT_LOG_SIZE,
    ) -> None:
        settings = Settings(
            request_limit=request_limit,
            request_window=request_window,
            active_limit=active_limit,
            projects_per_day=projects_per_day,
            renders_per_day=renders_per_day,
            max_keys=max_keys,
            durations=durations,
            failure_rate=failure_rate,
            decision_points=decision_points,
        )
        self._sim = Simulation(
            settings,
            time_scale=time_scale,
            seed=seed,
            webhook_secret=webhook_secret,
            log_size=log_size,
        )
        self._sim.log_requests = log_requests
        self._host, self._port = host, port
        self._runners: list[web.AppRunner] = []
        self._default_key = self._sim.add_account(api_key=api_key)[1]
        self.base_url = ""
        self.files_url = ""

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, time_scale={self.time_scale!r})"

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Bind both ports and start serving; :attr:`base_url` is set after this."""
        api = web.Application(middlewares=[_v1_only, control_middleware], client_max_size=4 << 20)
        api[SIMULATION] = self._sim
        api.add_routes(_projects.routes)
        api.add_routes(_accounts.routes)
        api.add_routes(control_routes)
        api_port = await self._serve(api, self._port)
        files_port = await self._serve(self._sim.videos.app(), 0)
        host = _url_host(self._host)
        self.base_url = f"http://{host}:{api_port}/v1"
        self.files_url = f"http://{host}:{files_port}"
        self._sim.videos.origin = self.files_url
        await self._sim.webhooks.start()

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        sock = _bind(self._host, port)
        await web.SockSite(runner, sock).start()
        bound: int = sock.getsockname()[1]
        return bound

    async def close(self) -> None:
        """Stop serving and deliver no more webhooks.

        A background task of the simulator that died (a bug) raises here, once,
        as a ``RuntimeError`` naming it.
        """
        failure = await self._sim.webhooks.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if failure is not None:
            raise RuntimeError(
                f"a background task of the simulator failed: {type(failure).__name__}: {failure}"
            ) from failure

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.close()
            return
        try:  # the block's error goes on as itself
            await self.close()
        except Exception:
            _log.warning("closing the simulator failed (after %r)", exc, exc_info=True)

    # -- the Python control interface -------------------------------------

    @property
    def api_key(self) -> str:
        """The default account's key (10,000 credits, free plan)."""
        return self._default_key

    @property
    def webhook_secret(self) -> str:
        """The secret every webhook is signed with (unless an account has its own)."""
        return self._sim.webhook_secret

    @property
    def time_scale(self) -> float:
        """Real seconds per contract second."""
        return self._sim.clock.time_scale

    @property
    def clock(self) -> Clock:
        """The simulator's clock: ``now()``, ``unix()``, ``virtual()``, ``day()``, ...

        Move it only with :meth:`advance`.
        """
        return self._sim.clock

    @property
    def settings(self) -> Settings:
        """The limits and behaviour this simulator was made with."""
        return self._sim.settings

    @property
    def request_log(self) -> list[RequestRecord]:
        """The ``/v1`` requests seen so far, in arrival order (the newest ``log_size``; a copy)."""
        return list(self._sim.request_log)

    @property
    def download_log(self) -> list[DownloadRecord]:
        """The requests the file server answered (the newest ``log_size``; a copy)."""
        return list(self._sim.videos.downloads)

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """The webhook POSTs made so far, with their status (the newest ``log_size``; a copy)."""
        return list(self._sim.webhooks.deliveries)

    def add_account(
        self,
        *,
        credits: int = 10_000,
        plan: str = "free",
        api_key: str | None = None,
        webhook_secret: str | None = None,
    ) -> str:
        """Create an account (cheap, synchronous) and return its API key."""
        return self._sim.add_account(
            credits=credits, plan=plan, api_key=api_key, webhook_secret=webhook_secret
        )[1]

    def add_key(self, api_key: str, *, name: str = "extra") -> str:
        """A new key of the account ``api_key`` belongs to (``ValueError`` past 10 keys)."""
        return self._sim.add_key(api_key, name=name)

    def set_faults(self, faults: Faults | None = None, **rates: Any) -> Faults:
        """Replace the fault rates: a :class:`Faults`, or its fields as keywords.

        ``set_faults()`` turns every fault off. Returns the rates now in force.
        """
        chosen = faults if faults is not None else Faults(**rates)
        if faults is not None and rates:
            chosen = attrs.evolve(faults, **rates)
        self._sim.set_faults(chosen)
        return chosen

    def stats(self, api_key: str | None = None) -> SimulatorStats:
        """A frozen summary of one account's traffic (all accounts when None)."""
        return self._sim.stats(api_key)

    def projects(self, api_key: str | None = None) -> tuple[ProjectSnapshot, ...]:
        """Snapshots of one account's projects (all accounts when None), oldest first."""
        return self._sim.projects(api_key)

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward ``seconds`` contract seconds.

        Projects move on, request windows slide, URLs expire and days end as
        if that much time had passed.
        """
        self._sim.advance(seconds)

    def fail_project(self, project_id: str) -> None:
        """Make ``project_id`` fail at the end of its current phase.

        An idle or failed project fails at the first phase of its next run.
        """
        self._sim.fail_project(project_id)

    def account(self, api_key: str) -> dict[str, Any]:
        """The account of ``api_key`` as ``GET /account`` would show it, plus its id."""
        account = self._sim.account(api_key)
        return {"id": account.id, **account_view(account)}
