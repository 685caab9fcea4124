"""``AsyncVideoAgent``: the client, and the one place that wires the SDK's parts together.

The composition root. Each part receives only the narrow interfaces it
needs (``_seams``), never the client::

    LimitsBackend --connect--> SharedLimits: Budget, Slots (+ WatchShare)
    HTTPTransport (one send) <- Caller (budget tickets, retries) <- Poller, resources
    ProjectLedger: every parsed Project -> slots, then watchers, fleet, feeds
    Activation (slots around create/message/render) -> SlotTracking <- SharedWatcher
    Projects(caller, poller, ledger, activation, downloader, wait_for=shared watcher)
    Wiring (the parts, for ProjectWatcher, batch, integrations: ``wiring_of(client)``)

A client and its ``with_options`` copies share everything but their
request options (and so their resources and poller).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import sys
import warnings
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import attrs
from yarl import URL

from ._activation import Activation, SlotTracking
from ._arguments import check_id, check_text
from ._config import (
    Limits,
    PollPolicy,
    RetryPolicy,
    resolve_api_key,
    resolve_base_url,
    resolve_redis_url,
    resolve_time_scale,
    setup_logging,
)
from ._converter import structure
from ._download import Downloader
from ._errors import ConfigurationError, InsecureBaseURLWarning
from ._events import OnUpdate
from ._ledger import ProjectLedger
from ._limiter import LocalBackend
from ._models import Account, ApiKey, ApiKeyCreated, CreditsWarning, Project
from ._projects import Projects
from ._raw import raw_method
from ._reading import Poller
from ._retry import Caller, Extras, RequestOptions
from ._seams import (
    BudgetStatistics,
    LimitsBackend,
    Priority,
    SharedLimits,
    SlotStatistics,
)
from ._transport import HTTPTransport
from ._types import NOT_GIVEN, NotGiven
from ._watcher import ProjectWatcher, SharedWatcher
from ._wiring import Wiring, wire

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = [
    "AccountResource",
    "AccountWithRawResponse",
    "ApiKeys",
    "ApiKeysWithRawResponse",
    "AsyncVideoAgent",
    "ClientStatistics",
]

logger = logging.getLogger("videoagent")


@attrs.frozen
class ClientStatistics:
    """A snapshot of what a client sees (the shape of ``anyio.CapacityLimiter.statistics()``).

    Attributes:
        requests: the request budget: ``in_window`` (in flight and held) of
            ``limit`` per window, ``waiting``, ``paused_for`` (a server's
            ``Retry-After``).
        slots: the active-project slots: ``held``, ``pending``, ``waiting``,
            ``foreign`` (the server's count of projects we do not know),
            ``placeholders``, of ``limit``.
        retries: attempts sent again after a failure, so far.
        rate_limited: 429 answers seen so far (0 unless another client shares
            the account, or a daily limit).
    """

    requests: BudgetStatistics
    slots: SlotStatistics
    retries: int
    rate_limited: int


class _Core:
    """What a client shares with its ``with_options`` copies: every part but the options."""

    def __init__(
        self,
        *,
        transport: HTTPTransport,
        caller: Caller,
        shared: SharedLimits,
        ledger: ProjectLedger,
        downloader: Downloader,
        limits: Limits,
        poll_policy: PollPolicy,
    ) -> None:
        self.transport = transport
        self.caller = caller
        self.shared = shared
        self.ledger = ledger
        self.downloader = downloader
        self.limits = limits
        self.poll_policy = poll_policy
        self.tracking = SlotTracking()
        if not shared.tracks_projects:  # a job queue's poll steps see each project end
            self.tracking.serve(_polled_elsewhere)
        self.stack = contextlib.AsyncExitStack()
        self.watcher: SharedWatcher | None = None

    def require_watcher(self) -> SharedWatcher:
        if self.watcher is None:
            raise ConfigurationError(
                "the client's watcher runs inside `async with AsyncVideoAgent(...) as client:`"
            )
        return self.watcher

    async def wait_for(
        self, project_id: str, timeout: float | None, on_update: OnUpdate | None
    ) -> Project:
        return await self.require_watcher().wait(project_id, timeout=timeout, on_update=on_update)


class AsyncVideoAgent:
    """The asynchronous client of the video-agent API.

    Example::

        async with AsyncVideoAgent() as client:          # VIDEOAGENT_API_KEY / _BASE_URL
            project = await client.projects.create("a 20 s teaser for ...")
            project = await client.projects.wait(project.id)
            await client.projects.download(project.id, "out/teaser.mp4")

    Args:
        api_key: the ``es_live_...`` key; default ``VIDEOAGENT_API_KEY``.
        base_url: the API's base URL, ending in ``/v1``; default ``VIDEOAGENT_BASE_URL``.
        time_scale: multiplies every wait the SDK makes (backoff, ``Retry-After``,
            the limiter's window, polling); 0.01 runs the protocol 100 times
            faster; default ``VIDEOAGENT_TIME_SCALE``, else 1.0.
        limits: the account's limits, enforced client-side (``Limits.unlimited()``: off).
        max_retries: retries after a failed attempt (0: none).
        timeout: seconds one attempt may take, answer included (scaled like every wait).
        retry: backoff settings and ``max_retry_wait``; its ``max_retries`` is
            replaced by the ``max_retries`` argument.
        poll_policy: the shared watcher's polling intervals (used by ``wait``).
        session: an ``aiohttp.ClientSession`` to use; the client never closes it.
            (aiohttp itself resends a GET, PUT or DELETE once when a connection
            drops; the client turns that off in the sessions it makes, not in
            yours: that resend passes the limiter, so leave it on only with room
            to spare in ``limits``.)
        on_credits_warning: called with every ``credits_warning`` an answer carries
            (an exception in it is logged: the call that brought the warning goes on).
        allow_insecure: a plain ``http://`` base URL to a host other than
            loopback sends the key in clear and gives an ``InsecureBaseURLWarning``;
            ``True`` says that is intended (a TLS-terminating sidecar, a lab).
        limits_backend: where the limits are kept: this process (default), or
            ``videoagent.fleet.RedisBackend`` to share them with every process
            of the account; default a ``RedisBackend`` when
            ``VIDEOAGENT_REDIS_URL`` is set.
        default_headers: headers every request carries (ours win: auth).
        trust_env: proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) and
            certificates (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) from the
            environment, as httpx does; downloads follow the same rule.

    Use it as ``async with`` (or call ``aclose()``): it owns an aiohttp session
    and the watcher's polling tasks. One client's requests, and those of its
    ``with_options`` copies, share one limiter.
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
        session: aiohttp.ClientSession | None = None,
        on_credits_warning: Callable[[CreditsWarning], object] | None = None,
        allow_insecure: bool = False,
        limits_backend: LimitsBackend | None = None,
        default_headers: Mapping[str, str] | None = None,
        trust_env: bool = True,
    ) -> None:
        setup_logging()
        if not timeout > 0:
            raise ConfigurationError(f"timeout must be > 0, got {timeout!r}")
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries!r}")
        scale = resolve_time_scale(time_scale)
        key = resolve_api_key(api_key)
        url = resolve_base_url(base_url)
        if not allow_insecure and _in_clear(url):
            warnings.warn(
                f"the base URL {url} is plain http to a host other than loopback: "
                "the API key would travel in clear; use https (or allow_insecure=True)",
                InsecureBaseURLWarning,
                stacklevel=2,
            )
        backend = limits_backend or _backend_from_env() or LocalBackend()
        shared = backend.connect(api_key=key, limits=limits, time_scale=scale, timeout=timeout)
        ledger = ProjectLedger(shared.slots)
        shared.attach(ledger.observe)
        if shared.watch is not None:  # fleet mode: the other processes hear of each answer
            ledger.projects.subscribe(shared.share_project)
        if on_credits_warning is not None:
            ledger.credits.subscribe(_logged_on_error(on_credits_warning))
        transport = HTTPTransport(
            api_key=key,
            base_url=url,
            session=session,
            default_headers=default_headers,
            trust_env=trust_env,
        )
        caller = Caller(
            transport,
            shared.budget,
            limited=limits.requests is not None,
            credits=ledger.credits,
            time_scale=scale,
        )
        options = RequestOptions(
            retry=attrs.evolve(retry or RetryPolicy(), max_retries=max_retries),
            timeout=timeout,
            time_scale=scale,
        )
        downloader = Downloader(
            session=session,
            trust_env=trust_env,
            backoff=caller.backoff,
        )
        self._core = _Core(
            transport=transport,
            caller=caller,
            shared=shared,
            ledger=ledger,
            downloader=downloader,
            limits=limits,
            poll_policy=poll_policy or PollPolicy(),
        )
        self._owner = True
        self._wire(options)

    def _wire(self, options: RequestOptions) -> None:
        """This client's (or copy's) resources, over the shared core."""
        core = self._core
        self._options = options
        poller = Poller(core.caller, options, core.ledger)
        self.account = AccountResource(core.caller, options, core.shared)
        activation = Activation(
            slots=core.shared.slots,
            limited=core.limits.active_projects is not None,
            tracking=core.tracking,
            poll=poller.get,
            read_account=self._read_account,
            retry=options.retry,
            time_scale=options.time_scale,
        )
        self.projects = Projects(
            caller=core.caller,
            options=options,
            ledger=core.ledger,
            poller=poller,
            activation=activation,
            downloader=core.downloader,
            wait_for=core.wait_for,
        )
        self.api_keys = ApiKeys(core.caller, options)
        wire(
            self,
            Wiring(
                caller=core.caller,
                poller=poller,
                budget=core.shared.budget,
                slots=core.shared.slots,
                ledger=core.ledger,
                tracking=core.tracking,
                shared=core.shared,
                time_scale=options.time_scale,
            ),
        )

    async def _read_account(self, max_retries: int | None) -> Account:
        client = self if max_retries is None else self.with_options(max_retries=max_retries)
        return await client.account.get()

    def __repr__(self) -> str:
        transport = self._core.transport
        return (
            f"{type(self).__name__}(base_url={transport.base_url!r}, "
            f"api_key={transport.redacted_key!r}, time_scale={self.time_scale!r})"
        )

    @property
    def time_scale(self) -> float:
        """The factor every wait of the SDK is multiplied by."""
        return self._options.time_scale

    @property
    def limits(self) -> Limits:
        """The limits this client (and its copies) enforce."""
        return self._core.limits

    @property
    def max_retries(self) -> int:
        """Retries after a failed attempt."""
        return self._options.retry.max_retries

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""
        return self._options.timeout

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._core.transport.base_url

    @property
    def watcher(self) -> ProjectWatcher:
        """The client's shared watcher: ``wait`` polls through it, and it keeps every
        project holding an active slot polled. Hand it webhooks (``notify``), or read
        its ``events()``. Exists inside ``async with`` only."""
        return self._core.require_watcher()

    def statistics(self) -> ClientStatistics:
        """A frozen snapshot of the request budget, the active slots, retries and 429s."""
        core = self._core
        return ClientStatistics(
            requests=core.shared.budget.statistics(),
            slots=core.shared.slots.statistics(),
            retries=core.caller.retries,
            rate_limited=core.caller.rate_limited,
        )

    def with_options(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A copy with other request settings, sharing this client's session and limiter.

        Example::

            await client.with_options(timeout=5.0, max_retries=0).projects.get(pid)

        As in the constructor, ``retry``'s own ``max_retries`` is replaced by
        ``max_retries`` (this client's when not given). The copy is closed with
        its parent (closing the copy does nothing).
        """
        policy = self._options.retry if isinstance(retry, NotGiven) else retry
        if isinstance(max_retries, NotGiven):
            max_retries = self._options.retry.max_retries
        elif max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries!r}")
        policy = attrs.evolve(policy, max_retries=max_retries)
        if not isinstance(timeout, NotGiven) and not timeout > 0:
            raise ConfigurationError(f"timeout must be > 0, got {timeout!r}")
        copy = object.__new__(type(self))
        copy._core = self._core
        copy._owner = False
        copy._wire(
            attrs.evolve(
                self._options,
                retry=policy,
                timeout=self._options.timeout if isinstance(timeout, NotGiven) else timeout,
            )
        )
        return copy

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if not self._owner:
            return self
        core = self._core
        await core.transport.open()
        await core.stack.__aenter__()
        try:
            await core.stack.enter_async_context(core.shared)  # fleet mode: its tasks
            tracking = core.tracking if core.shared.tracks_projects else None
            core.watcher = await core.stack.enter_async_context(
                SharedWatcher(self, policy=core.poll_policy, tracking=tracking)
            )
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.aclose()
            return
        try:  # the block's error passes through as itself
            await self.aclose()
        except Exception:
            logger.warning("closing the client failed (after %r)", exc, exc_info=True)

    async def close(self) -> None:
        """``aclose()`` under openai's name for it: ``await client.close()``."""
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the shared watcher and close the session (if this client opened it)."""
        if not self._owner:
            return
        core = self._core
        try:
            stack, core.stack = core.stack, contextlib.AsyncExitStack()
            core.watcher = None
            await stack.aclose()
        finally:
            core.ledger.close()  # other watchers let go of this client
            await core.transport.aclose()
            await core.downloader.aclose()


def _logged_on_error(
    callback: Callable[[CreditsWarning], object],
) -> Callable[[CreditsWarning], None]:
    """``callback``, its exceptions logged: a user's bug must not lose the answer it rode on
    (a create's project, say)."""

    def call(warning: CreditsWarning) -> None:
        try:
            callback(warning)
        except Exception:
            logger.exception("an on_credits_warning callback raised")

    return call


def _polled_elsewhere(project: str | Project) -> None:
    """Slot tracking where a job queue polls every project: nothing to do here."""


def _backend_from_env() -> LimitsBackend | None:
    """A ``RedisBackend`` when ``VIDEOAGENT_REDIS_URL`` is set (fleet mode), else None."""
    url = resolve_redis_url(None)
    if url is None:
        return None
    try:
        from .fleet import RedisBackend  # noqa: PLC0415 - the optional extra, only when asked for
    except ImportError as exc:
        raise ConfigurationError(
            "VIDEOAGENT_REDIS_URL is set, but fleet mode needs the redis extra: "
            "pip install 'videoagent[redis]'"
        ) from exc
    return RedisBackend(url=url)


def _in_clear(base_url: str) -> bool:
    """Whether ``base_url`` is plain http to a host other than loopback."""
    if not base_url.lower().startswith("http://"):
        return False
    host = (URL(base_url).host or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a name: resolved elsewhere, maybe far away


class AccountResource:
    """``client.account``: credits, plan and today's usage."""

    def __init__(self, caller: Caller, options: RequestOptions, shared: SharedLimits) -> None:
        self._caller = caller
        self._options = options
        self._slots = shared.slots

    @functools.cached_property
    def with_raw_response(self) -> AccountWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``)."""
        return AccountWithRawResponse(self)

    async def get(
        self,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> Account:
        """The account now; its active-project count also corrects the client's slots."""

        def parse(data: Any, request_id: str | None) -> Account:
            account = structure(data, Account, request_id=request_id)
            self._slots.sync(account.active_projects)
            return account

        return await self._caller.call(
            "GET",
            "/account",
            parse,
            options=self._options,
            via=Priority.USER,
            extras=Extras.of(extra_headers, extra_query, None),
        )


class AccountWithRawResponse:
    """``client.account.with_raw_response``: each call returns a ``RawResponse``."""

    def __init__(self, account: AccountResource) -> None:
        self.get = raw_method(account.get)


class ApiKeys:
    """``client.api_keys``: the account's API keys."""

    def __init__(self, caller: Caller, options: RequestOptions) -> None:
        self._caller = caller
        self._options = options

    @functools.cached_property
    def with_raw_response(self) -> ApiKeysWithRawResponse:
        """The same calls, each returning a ``RawResponse`` (status, headers, ``parse()``)."""
        return ApiKeysWithRawResponse(self)

    async def list(
        self,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> tuple[ApiKey, ...]:
        """The account's active keys (their secrets are never shown again)."""

        def parse(data: Any, request_id: str | None) -> tuple[ApiKey, ...]:
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                items = [None]  # let structure() raise its APIResponseError
            return tuple(structure(item, ApiKey, request_id=request_id) for item in items)

        return await self._caller.call(
            "GET",
            "/api-keys",
            parse,
            options=self._options,
            extras=Extras.of(extra_headers, extra_query, None),
        )

    async def create(
        self,
        name: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> ApiKeyCreated:
        """A new key; its secret (``key``) is shown this once.

        Not resent after an ambiguous failure: a lost answer would lose the secret
        anyway, and a resend could make a second key.
        """
        return await self._caller.call(
            "POST",
            "/api-keys",
            lambda data, request_id: structure(data, ApiKeyCreated, request_id=request_id),
            options=self._options,
            body={"name": check_text(name, "name", limit=100)},
            resend=False,
            extras=Extras.of(extra_headers, extra_query, extra_body),
        )

    async def revoke(
        self,
        key_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str] | None = None,
    ) -> None:
        """Revoke a key (safe to retry: a resend checks the key is still there first)."""
        path = f"/api-keys/{check_id(key_id, 'key', 'key_id')}"

        async def revoked() -> bool | None:
            keys = await self.list()
            return True if all(key.id != key_id for key in keys) else None

        await self._caller.call(
            "DELETE",
            path,
            lambda _data, _request_id: True,
            options=self._options,
            resend=revoked,
            extras=Extras.of(extra_headers, extra_query, None),
        )


class ApiKeysWithRawResponse:
    """``client.api_keys.with_raw_response``: each call returns a ``RawResponse``."""

    def __init__(self, keys: ApiKeys) -> None:
        self.list = raw_method(keys.list)
        self.create = raw_method(keys.create)
        self.revoke = raw_method(keys.revoke)
