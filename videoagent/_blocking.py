"""``VideoAgent``: the blocking client (scripts, Django and Flask views, Celery tasks, notebooks).

Not a second SDK: each method of ``VideoAgent`` runs the ``AsyncVideoAgent``
method of the same name on the client's engine (``_engine``: one event loop
on a daemon thread), so limits, retries, slots, the watcher, the errors and
the docstrings are the async client's own. The blocking resources are built
by wrapping the async client's bound methods (``_Namespace._blocking``, a
``ParamSpec`` wrapper, as ``_raw.raw_method`` is), so type checkers see
every argument and return type (and ``inspect``, ``help()`` and notebooks
too: ``_signatures``); async iterators (``list``, ``messages``)
become plain iterators that pull one item per hand-off.

The wrappers look the async method up at each call (a microsecond), so a
client carried into a forked child reaches the async client the engine makes
there. Callbacks (``wait(on_update=...)``) run in the thread that called,
while it waits: they may block and may call the client (the engine's loop
never waits for them). ``on_credits_warning`` runs on the engine's thread
(it comes with any answer, a background poll's too): keep it short and do
not call the client from it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, ParamSpec, TypeVar, overload

from ._client import AccountResource as AsyncAccount
from ._client import AccountWithRawResponse as AsyncAccountRaw
from ._client import ApiKeys as AsyncApiKeys
from ._client import ApiKeysWithRawResponse as AsyncApiKeysRaw
from ._client import AsyncVideoAgent, ClientStatistics
from ._config import Limits, PollPolicy, RetryPolicy
from ._engine import Engine, abandon
from ._errors import ConfigurationError
from ._events import OnUpdate, WatchEvent
from ._models import CreditsWarning, Project, ProjectStatus
from ._projects import Projects as AsyncProjects
from ._projects import ProjectsWithRawResponse as AsyncProjectsRaw
from ._seams import LimitsBackend
from ._signatures import as_iterator, signature_like, unchanged
from ._types import NOT_GIVEN, NotGiven
from ._watcher import ProjectWatcher, WatcherStatistics

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = [
    "AccountResource",
    "AccountWithRawResponse",
    "ApiKeys",
    "ApiKeysWithRawResponse",
    "Projects",
    "ProjectsWithRawResponse",
    "VideoAgent",
    "Watcher",
    "engine_of",
]

logger = logging.getLogger("videoagent")

P = ParamSpec("P")
T = TypeVar("T")


class VideoAgent:
    """The blocking client of the video-agent API: ``AsyncVideoAgent``'s calls, blocking.

    Example::

        with VideoAgent() as client:                     # VIDEOAGENT_API_KEY / _BASE_URL
            project = client.projects.create("a 20 s teaser for ...")
            project = client.projects.wait(project.id, on_update=print)
            client.projects.download(project.id, "out/teaser.mp4")

    The same resources, methods, arguments, return types and errors as
    ``AsyncVideoAgent`` (``list`` and ``messages`` are plain iterators), on
    the same engine: every call runs the async client's method on an event
    loop this client owns, on a daemon thread started at its first call (or
    ``with``). Share one client between threads: they share its request
    budget, its active slots and its watcher. Calling it where an event loop
    runs (async code) raises ``ConfigurationError``: use ``AsyncVideoAgent``
    there. A forked child (Celery's prefork pool, gunicorn) starts an engine
    of its own at its first call, from the same arguments.

    Args:
        api_key, base_url, time_scale, limits, max_retries, timeout, retry,
        poll_policy, allow_insecure, limits_backend, default_headers,
        trust_env: as for ``AsyncVideoAgent`` (its own ``aiohttp`` session
            only: a session belongs to the event loop it was made on, and
            this client's loop is private).
        on_credits_warning: called with every ``credits_warning`` an answer
            carries, on the client's own thread: keep it short, and do not
            call the client from it.

    Close it (``with``, or ``close()``): that closes the async client and ends
    its thread. A client you forget is closed when it is collected, or when
    the interpreter exits.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        time_scale: float | None = None,
        limits: Limits = Limits(),  # noqa: B008 - frozen value object
        max_retries: int = 4,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        on_credits_warning: Callable[[CreditsWarning], object] | None = None,
        allow_insecure: bool = False,
        limits_backend: LimitsBackend | None = None,
        default_headers: Mapping[str, str] | None = None,
        trust_env: bool = True,
    ) -> None:
        # The async client is made here and now (a bad option raises in this
        # thread), and made again from these arguments in a forked child.
        engine: Engine[AsyncVideoAgent] = Engine(
            functools.partial(
                AsyncVideoAgent,
                api_key,
                base_url,
                time_scale=time_scale,
                limits=limits,
                max_retries=max_retries,
                timeout=timeout,
                retry=retry,
                poll_policy=poll_policy,
                on_credits_warning=on_credits_warning,
                allow_insecure=allow_insecure,
                limits_backend=limits_backend,
                default_headers=default_headers,
                trust_env=trust_env,
            )
        )
        self._wire(_Driver(engine))

    def _wire(self, driver: _Driver) -> None:
        self._driver = driver
        self.projects = Projects(driver)
        self.account = AccountResource(driver)
        self.api_keys = ApiKeys(driver)
        self.watcher = Watcher(driver)

    def _agent(self) -> AsyncVideoAgent:
        return self._driver.agent()

    def __repr__(self) -> str:
        described = repr(self._agent())  # (the key redacted)
        return f"{type(self).__name__}{described[described.index('(') :]}"

    @property
    def time_scale(self) -> float:
        """The factor every wait of the SDK is multiplied by."""
        return self._agent().time_scale

    @property
    def limits(self) -> Limits:
        """The limits this client (and its copies) enforce."""
        return self._agent().limits

    @property
    def max_retries(self) -> int:
        """Retries after a failed attempt."""
        return self._agent().max_retries

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""
        return self._agent().timeout

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._agent().base_url

    def statistics(self) -> ClientStatistics:
        """A frozen snapshot of the request budget, the active slots, retries and 429s."""
        return self._driver.now("VideoAgent.statistics", lambda agent: agent.statistics())

    def with_options(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A copy with other request settings, sharing this client's engine and limits.

        Example::

            client.with_options(timeout=5.0, max_retries=0).projects.get(pid)

        As ``AsyncVideoAgent.with_options`` (bad values raise here); the copy
        is closed with its parent (closing the copy does nothing).
        """
        copy = object.__new__(type(self))
        copy._wire(self._driver.derived(max_retries=max_retries, timeout=timeout, retry=retry))
        return copy

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> Self:
        self._driver.engine.start("VideoAgent.__enter__")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:  # the block's error passes through as itself
            self.close()
        except Exception:
            logger.warning("closing the client failed (after %r)", exc, exc_info=True)

    def close(self) -> None:
        """Close the async client and end the engine's thread (a copy's does nothing).

        Calls still running in other threads end with the async client's
        errors (a ``wait``: ``WatchStoppedError``); later calls raise
        ``ConfigurationError`` ("the client is closed").
        """
        if self._driver.root:
            self._driver.engine.close()


async def _now(read: Callable[[], T]) -> T:
    """``read()``, on the engine's loop (the async client's state is its thread's)."""
    return read()


def engine_of(client: VideoAgent) -> tuple[Engine[AsyncVideoAgent], AsyncVideoAgent]:
    """The engine of ``client`` and the async client it drives (for ``run_batch_sync``)."""
    driver = client._driver  # pyright: ignore[reportPrivateUsage] - this module's own
    return driver.engine, driver.agent()


class _Driver:
    """What a ``VideoAgent`` (or a copy) and its resources share: the engine, and how to
    find the async client to drive (a copy's is derived from the engine's by ``derive``)."""

    def __init__(
        self,
        engine: Engine[AsyncVideoAgent],
        derive: Callable[[AsyncVideoAgent], AsyncVideoAgent] | None = None,
    ) -> None:
        self.engine = engine
        self._derive = derive
        self._made: tuple[AsyncVideoAgent, AsyncVideoAgent] | None = None

    @property
    def root(self) -> bool:
        """Whether this drives the engine's own client (not a ``with_options`` copy)."""
        return self._derive is None

    def now(self, label: str, read: Callable[[AsyncVideoAgent], T]) -> T:
        """``read(async client)``, run on the engine's loop (whose thread owns its state)."""
        return self.engine.call(label, functools.partial(_now, lambda: read(self.agent())), (), {})

    def agent(self) -> AsyncVideoAgent:
        """The async client to drive, in this process (made again after a fork)."""
        root = self.engine.resource
        if self._derive is None:
            return root
        made = self._made
        if made is None or made[0] is not root:
            made = (root, self._derive(root))
            self._made = made
        return made[1]

    def derived(
        self,
        *,
        max_retries: int | NotGiven,
        timeout: float | NotGiven,
        retry: RetryPolicy | NotGiven,
    ) -> _Driver:
        """A copy's driver (its async client made now: bad values raise here)."""
        parent = self._derive

        def derive(root: AsyncVideoAgent) -> AsyncVideoAgent:
            base = root if parent is None else parent(root)
            return base.with_options(max_retries=max_retries, timeout=timeout, retry=retry)

        driver = _Driver(self.engine, derive)
        driver.agent()
        return driver


# -- the resources --------------------------------------------------------------------


class _Namespace:
    """A blocking resource: each method runs one of the current async client's on the engine.

    ``locate`` finds the async resource on the async client (its ``projects``, ...).
    """

    def __init__(
        self, driver: _Driver, label: str, locate: Callable[[AsyncVideoAgent], object]
    ) -> None:
        self._driver = driver
        self._label = label
        self._locate = locate

    def _blocking(
        self, method: Callable[P, Awaitable[T]], *, notify: tuple[str, ...] = ()
    ) -> Callable[P, T]:
        """``method`` (a bound async method, for its signature), blocking.

        ``notify``: its callback arguments, run in the calling thread.
        """
        driver, locate, name = self._driver, self._locate, method.__name__
        label = f"VideoAgent.{self._label}.{name}"

        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            current: Callable[P, Awaitable[T]] = getattr(locate(driver.agent()), name)
            return driver.engine.call(label, current, args, kwargs, notify=notify)

        return _named(call, method, label, unchanged)

    def _iterating(self, method: Callable[P, AsyncIterator[T]]) -> Callable[P, Iterator[T]]:
        """``method`` (an async generator method), as a plain iterator."""
        driver, locate, name = self._driver, self._locate, method.__name__
        label = f"VideoAgent.{self._label}.{name}"

        def call(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
            current: Callable[P, AsyncIterator[T]] = getattr(locate(driver.agent()), name)
            return _Pulled(driver.engine, label, current(*args, **kwargs))

        return _named(call, method, label, as_iterator)


def _named(
    call: Callable[P, T],
    method: Callable[..., object],
    label: str,
    returns: Callable[[str], str],
) -> Callable[P, T]:
    """``call`` under ``method``'s name, docstring and parameters, returning what
    ``returns`` makes of its return type (``help()``, ``inspect``)."""
    call.__name__ = method.__name__
    call.__qualname__ = label
    call.__doc__ = method.__doc__
    call.__wrapped__ = method  # type: ignore[attr-defined]
    call.__signature__ = signature_like(method, returns)  # type: ignore[attr-defined]
    return call


class _Pulled(Generator[T, None, None]):
    """The items of an async iterator as a plain generator, each fetched by one call on
    the engine (the process is noted now, not at the first item: begun before a fork,
    it refuses in the child).

    ``close()`` closes the async iterator on the engine at once, read or not (a
    watcher's subscription ends there); one dropped unclosed is closed when
    collected (asyncio's async generator hooks; a subscription is weakly held).
    ``ends_with_client``: once the client is closed, the iteration ends (else
    ``ConfigurationError``).
    """

    def __init__(
        self,
        engine: Engine[AsyncVideoAgent],
        label: str,
        items: AsyncIterator[T],
        *,
        ends_with_client: bool = False,
    ) -> None:
        self._engine = engine
        self._label = label
        self._items: AsyncIterator[T] | None = items
        self._generation = engine.generation
        self._ends_with_client = ends_with_client

    def send(self, value: None) -> T:
        """The next item (``value`` is ignored, as a fresh generator's must be ``None``)."""
        items = self._items
        if items is None:
            raise StopIteration
        engine = self._engine
        if engine.generation != self._generation:
            self._items = None
            abandon(items)
            raise ConfigurationError(
                f"{self._label}: an iteration begun before os.fork() cannot go on in the "
                "child process; begin it again there"
            )
        try:
            return engine.call(self._label, items.__anext__, (), {})
        except StopAsyncIteration:
            self._items = None
            raise StopIteration from None
        except ConfigurationError:
            if self._ends_with_client and engine.closed:
                self._items = None
                raise StopIteration from None
            raise

    @overload
    def throw(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T: ...
    @overload
    def throw(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> T: ...
    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T:
        """Close, then raise what was thrown (as a generator that does not catch it)."""
        self.close()
        if isinstance(typ, BaseException):
            raise typ.with_traceback(tb)
        error = val if isinstance(val, typ) else typ() if val is None else typ(val)
        raise error.with_traceback(tb)

    def close(self) -> None:
        """End the iteration; the async iterator is closed on the engine (idempotent)."""
        items, self._items = self._items, None
        aclose = getattr(items, "aclose", None)
        engine = self._engine
        if aclose is None or engine.closed or engine.generation != self._generation:
            return  # (dropped: what a closed or a parent's engine held goes with it)
        with contextlib.suppress(ConfigurationError):  # (closed meanwhile, or on a loop)
            engine.call(self._label, aclose, (), {})


class Watcher:
    """``client.watcher`` of a ``VideoAgent``: the client's shared watcher, blocking.

    The watcher ``projects.wait`` polls through (``AsyncVideoAgent.watcher``),
    for code that is not async: hand it the webhooks a Django or Flask view
    receives, or follow events from a thread of your own::

        @csrf_exempt
        def videoagent_webhook(request):                    # a Django view
            try:
                event = verifier.verify(request.headers, request.body)
            except WebhookError as error:
                return HttpResponse(status=error.status)
            client.watcher.notify(event.project_id, status=event.status)
            return HttpResponse(status=204)

    A notify speeds up the polls of a project this process waits for or
    watches (in fleet mode, of any process of the fleet). ``watch`` takes no
    ``on_event`` (it would run on the client's own thread): read ``events()``;
    nor ``client``: this watcher polls through its own client (whose
    ``with_options`` copies share its budget anyway), and another client's
    projects are that client's watcher's.
    """

    def __init__(self, driver: _Driver) -> None:
        self._driver = driver

    def _now(self, name: str, act: Callable[[ProjectWatcher], T]) -> T:
        """``act(watcher)``, on the engine's loop."""
        return self._driver.now(f"VideoAgent.watcher.{name}", lambda agent: act(agent.watcher))

    def watch(self, project: str | Project) -> None:
        """Start watching a project (by id, or a ``Project`` you just got back); its events
        reach ``events()``. A malformed id raises ``InvalidRequestError`` at once."""
        self._now("watch", lambda watcher: watcher.watch(project))

    def unwatch(self, project_id: str) -> None:
        """Stop watching; a ``wait`` on it raises ``WatchStoppedError``. Unknown ids are ignored."""
        self._now("unwatch", lambda watcher: watcher.unwatch(project_id))

    def notify(self, project_id: str, *, status: str | ProjectStatus | None = None) -> None:
        """A webhook about the project arrived: poll it now (see ``ProjectWatcher.notify``)."""
        self._now("notify", lambda watcher: watcher.notify(project_id, status=status))

    def wait(
        self, project_id: str, *, timeout: float | None = None, on_update: OnUpdate | None = None
    ) -> Project:
        """The project once it is idle, failed or cancelled (as ``client.projects.wait``;
        ``on_update`` runs in this thread)."""
        driver = self._driver

        async def wait(on_update: OnUpdate | None) -> Project:
            return await driver.agent().watcher.wait(
                project_id, timeout=timeout, on_update=on_update
            )

        kwargs = {"on_update": on_update}
        return driver.engine.call(
            "VideoAgent.watcher.wait", wait, (), kwargs, notify=("on_update",)
        )

    def events(self, *project_ids: str) -> Generator[WatchEvent, None, None]:
        """Events from now on (of the given projects, or all), as a plain iterator.

        Subscribed at once, and buffered: reading slowly never slows the polls.
        It ends when the client closes; drop it (or ``close()`` it) to unsubscribe.
        """
        subscription = self._now("events", lambda watcher: watcher.events(*project_ids))
        engine = self._driver.engine
        return _Pulled(engine, "VideoAgent.watcher.events", subscription, ends_with_client=True)

    def statistics(self) -> WatcherStatistics:
        """A frozen snapshot of the watcher's state."""
        return self._now("statistics", ProjectWatcher.statistics)


def _projects(agent: AsyncVideoAgent) -> AsyncProjects:
    return agent.projects


class Projects(_Namespace):
    """``client.projects`` of a ``VideoAgent``: the project endpoints, blocking.

    Each method is ``AsyncVideoAgent.projects``' of the same name (same
    arguments, same return type, same errors); ``list`` and ``messages``
    return plain iterators over every page. ``wait(on_update=...)`` calls
    ``on_update`` in the waiting thread (it may block, and call the client).
    """

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "projects", _projects)
        projects = _projects(driver.agent())
        self.create = self._blocking(projects.create)
        self.get = self._blocking(projects.get)
        self.poll = self._blocking(projects.poll)
        self.list = self._iterating(projects.list)
        self.messages = self._iterating(projects.messages)
        self.result = self._blocking(projects.result)
        self.send_message = self._blocking(projects.send_message)
        self.update_settings = self._blocking(projects.update_settings)
        self.cancel = self._blocking(projects.cancel)
        self.render = self._blocking(projects.render)
        self.wait = self._blocking(projects.wait, notify=("on_update",))
        self._download: Callable[..., Path | BinaryIO] = self._blocking(projects.download)

    @functools.cached_property
    def with_raw_response(self) -> ProjectsWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``)."""
        return ProjectsWithRawResponse(self._driver)

    @overload
    def download(self, project_id: str, path: str | os.PathLike[str]) -> Path: ...
    @overload
    def download(self, project_id: str, path: BinaryIO) -> BinaryIO: ...

    def download(self, project_id: str, path: str | os.PathLike[str] | BinaryIO) -> Path | BinaryIO:
        return self._download(project_id, path)

    download.__doc__ = AsyncProjects.download.__doc__


class ProjectsWithRawResponse(_Namespace):
    """``client.projects.with_raw_response`` of a ``VideoAgent``: each call returns a
    ``RawResponse``."""

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "projects.with_raw_response", _raw_projects)
        raw = _raw_projects(driver.agent())
        self.create = self._blocking(raw.create)
        self.get = self._blocking(raw.get)
        self.result = self._blocking(raw.result)
        self.send_message = self._blocking(raw.send_message)
        self.update_settings = self._blocking(raw.update_settings)
        self.cancel = self._blocking(raw.cancel)
        self.render = self._blocking(raw.render)


def _raw_projects(agent: AsyncVideoAgent) -> AsyncProjectsRaw:
    return agent.projects.with_raw_response


class AccountResource(_Namespace):
    """``client.account`` of a ``VideoAgent``: credits, plan and today's usage."""

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "account", _account)
        self.get = self._blocking(_account(driver.agent()).get)

    @functools.cached_property
    def with_raw_response(self) -> AccountWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``)."""
        return AccountWithRawResponse(self._driver)


def _account(agent: AsyncVideoAgent) -> AsyncAccount:
    return agent.account


class AccountWithRawResponse(_Namespace):
    """``client.account.with_raw_response`` of a ``VideoAgent``."""

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "account.with_raw_response", _raw_account)
        self.get = self._blocking(_raw_account(driver.agent()).get)


def _raw_account(agent: AsyncVideoAgent) -> AsyncAccountRaw:
    return agent.account.with_raw_response


class ApiKeys(_Namespace):
    """``client.api_keys`` of a ``VideoAgent``: the account's API keys."""

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "api_keys", _api_keys)
        keys = _api_keys(driver.agent())
        self.list = self._blocking(keys.list)
        self.create = self._blocking(keys.create)
        self.revoke = self._blocking(keys.revoke)

    @functools.cached_property
    def with_raw_response(self) -> ApiKeysWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``)."""
        return ApiKeysWithRawResponse(self._driver)


def _api_keys(agent: AsyncVideoAgent) -> AsyncApiKeys:
    return agent.api_keys


class ApiKeysWithRawResponse(_Namespace):
    """``client.api_keys.with_raw_response`` of a ``VideoAgent``."""

    def __init__(self, driver: _Driver) -> None:
        super().__init__(driver, "api_keys.with_raw_response", _raw_api_keys)
        raw = _raw_api_keys(driver.agent())
        self.list = self._blocking(raw.list)
        self.create = self._blocking(raw.create)
        self.revoke = self._blocking(raw.revoke)


def _raw_api_keys(agent: AsyncVideoAgent) -> AsyncApiKeysRaw:
    return agent.api_keys.with_raw_response
