"""``BackgroundSimulator``: a simulator served from its own thread and event loop.

For synchronous code and tests (and any event loop other than the caller's):
every method hops onto the simulator's loop and waits for the answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from ._clock import Clock
from ._faults import Faults
from ._records import DownloadRecord, ProjectSnapshot, RequestRecord, SimulatorStats
from ._server import Simulator
from ._settings import Settings
from ._webhooks import Delivery

__all__ = ["BackgroundSimulator"]

T = TypeVar("T")


class BackgroundSimulator:
    """A :class:`Simulator` running on a daemon thread; same arguments, same methods.

    Example::

        with BackgroundSimulator(time_scale=0.01, seed=7) as sim:
            requests.get(sim.base_url + "/account", headers=...)
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._simulator: Simulator | None = None
        self._stop: asyncio.Event | None = None

    @property
    def simulator(self) -> Simulator:
        """The simulator itself (touch it only through this class's methods)."""
        if self._simulator is None:
            raise RuntimeError("the background simulator is not running")
        return self._simulator

    def start(self) -> None:
        """Start the thread and wait until the simulator serves."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="videoagent-simulator", daemon=True
        )
        self._thread.start()
        ready.result(timeout=30)

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self._simulator = Simulator(**self._kwargs)
                await self._simulator.start()
            except BaseException as exc:
                ready.set_exception(exc)
                return
            ready.set_result(None)
            try:
                await self._stop.wait()
            finally:
                await self._simulator.close()

        asyncio.run(main())

    def close(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> BackgroundSimulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the simulator's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the background simulator is not running")

        async def call() -> T:
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    @property
    def base_url(self) -> str:
        """The API's base URL (ends in ``/v1``)."""
        return self.simulator.base_url

    @property
    def api_key(self) -> str:
        """The default account's key."""
        return self.simulator.api_key

    @property
    def webhook_secret(self) -> str:
        """The secret webhooks are signed with."""
        return self.simulator.webhook_secret

    @property
    def time_scale(self) -> float:
        """Real seconds per contract second."""
        return self.simulator.time_scale

    @property
    def files_url(self) -> str:
        """The origin result videos are served from."""
        return self.simulator.files_url

    @property
    def clock(self) -> Clock:
        """The simulator's clock (read it freely; move it with :meth:`advance`)."""
        return self.simulator.clock

    @property
    def settings(self) -> Settings:
        """The limits and behaviour of the simulator."""
        return self.simulator.settings

    @property
    def request_log(self) -> list[RequestRecord]:
        """A copy of the request log."""
        return self._call(lambda: list(self.simulator.request_log))

    @property
    def download_log(self) -> list[DownloadRecord]:
        """A copy of the file server's log."""
        return self._call(lambda: list(self.simulator.download_log))

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """A copy of the webhook deliveries so far."""
        return self._call(lambda: list(self.simulator.webhook_deliveries))

    def account(self, api_key: str) -> dict[str, Any]:
        """See :meth:`Simulator.account`."""
        return self._call(self.simulator.account, api_key)

    def add_account(self, **kwargs: Any) -> str:
        """See :meth:`Simulator.add_account`."""
        return self._call(self.simulator.add_account, **kwargs)

    def add_key(self, api_key: str, *, name: str = "extra") -> str:
        """See :meth:`Simulator.add_key`."""
        return self._call(self.simulator.add_key, api_key, name=name)

    def set_faults(self, faults: Faults | None = None, **rates: Any) -> Faults:
        """See :meth:`Simulator.set_faults`."""
        return self._call(self.simulator.set_faults, faults, **rates)

    def stats(self, api_key: str | None = None) -> SimulatorStats:
        """See :meth:`Simulator.stats`."""
        return self._call(self.simulator.stats, api_key)

    def projects(self, api_key: str | None = None) -> tuple[ProjectSnapshot, ...]:
        """See :meth:`Simulator.projects`."""
        return self._call(self.simulator.projects, api_key)

    def advance(self, seconds: float) -> None:
        """See :meth:`Simulator.advance`."""
        self._call(self.simulator.advance, seconds)

    def fail_project(self, project_id: str) -> None:
        """See :meth:`Simulator.fail_project`."""
        self._call(self.simulator.fail_project, project_id)
