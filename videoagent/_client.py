"""``AsyncVideoAgent``: the client, and its ``account`` and ``api_keys`` namespaces."""

from __future__ import annotations

import contextlib
import ipaddress
import sys
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import attrs
from yarl import URL

from ._config import Limits, PollPolicy, RetryPolicy, resolve_api_key, resolve_base_url
from ._converter import structure
from ._errors import ConfigurationError, InsecureBaseURLWarning
from ._limiter import Priority
from ._models import Account, ApiKey, ApiKeyCreated, CreditsWarning
from ._projects import Projects, check_id
from ._transport import RequestOptions, Transport
from ._types import NOT_GIVEN, NotGiven
from ._watcher import ProjectWatcher

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = ["AccountResource", "ApiKeys", "AsyncVideoAgent"]


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
            the limiter's window, polling); 0.01 runs the protocol 100 times faster.
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
        on_credits_warning: called with every ``credits_warning`` an answer carries.
        allow_insecure: a plain ``http://`` base URL to a host other than
            loopback sends the key in clear and gives an ``InsecureBaseURLWarning``;
            ``True`` says that is intended (a TLS-terminating sidecar, a lab).

    Use it as ``async with`` (or call ``aclose()``): it owns an aiohttp session
    and the watcher's polling tasks. One client's requests, and those of its
    ``with_options`` copies, share one limiter.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        time_scale: float = 1.0,
        limits: Limits = Limits(),  # noqa: B008 - frozen value object
        max_retries: int = 4,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        on_credits_warning: Callable[[CreditsWarning], object] | None = None,
        allow_insecure: bool = False,
    ) -> None:
        if not timeout > 0:
            raise ConfigurationError(f"timeout must be > 0, got {timeout!r}")
        if max_retries < 0:
            raise ConfigurationError(f"max_retries must be >= 0, got {max_retries!r}")
        url = resolve_base_url(base_url)
        if not allow_insecure and _in_clear(url):
            warnings.warn(
                f"the base URL {url} is plain http to a host other than loopback: "
                "the API key would travel in clear; use https (or allow_insecure=True)",
                InsecureBaseURLWarning,
                stacklevel=2,
            )
        self._transport = Transport(
            api_key=resolve_api_key(api_key),
            base_url=url,
            time_scale=time_scale,
            limits=limits,
            session=session,
            timeout=timeout,
        )
        if on_credits_warning is not None:
            self._transport.credits_listeners.append(on_credits_warning)
        self._options = RequestOptions(
            retry=attrs.evolve(retry or RetryPolicy(), max_retries=max_retries),
            timeout=timeout,
            time_scale=time_scale,
        )
        self._shared = _Shared(poll_policy or PollPolicy())
        self._owner = True
        self.projects = Projects(self)
        self.account = AccountResource(self)
        self.api_keys = ApiKeys(self)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._transport.base_url!r}, "
            f"api_key={self._transport.redacted_key!r}, time_scale={self.time_scale!r})"
        )

    @property
    def time_scale(self) -> float:
        """The factor every wait of the SDK is multiplied by."""
        return self._transport.time_scale

    @property
    def limits(self) -> Limits:
        """The limits this client (and its copies) enforce."""
        return self._transport.limits

    @property
    def max_retries(self) -> int:
        """Retries after a failed attempt."""
        return self._options.retry.max_retries

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take."""
        return self._options.timeout

    def with_options(
        self,
        *,
        max_retries: int | NotGiven = NOT_GIVEN,
        timeout: float | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> AsyncVideoAgent:
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
        copy = object.__new__(AsyncVideoAgent)
        copy._transport = self._transport
        copy._options = attrs.evolve(
            self._options,
            retry=policy,
            timeout=self._options.timeout if isinstance(timeout, NotGiven) else timeout,
        )
        copy._shared = self._shared
        copy._owner = False
        copy.projects = Projects(copy)
        copy.account = AccountResource(copy)
        copy.api_keys = ApiKeys(copy)
        return copy

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if not self._owner:
            return self
        await self._transport.open()
        await self._shared.stack.__aenter__()
        try:
            if self._transport.fleet is not None:  # fleet mode: the shared limits' tasks
                await self._shared.stack.enter_async_context(self._transport.fleet)
            await self._enter_watcher()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _enter_watcher(self) -> None:
        self._shared.watcher = await self._shared.stack.enter_async_context(
            ProjectWatcher(self, policy=self._shared.poll_policy)
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the shared watcher and close the session (if this client opened it)."""
        if not self._owner:
            return
        try:
            stack, self._shared.stack = self._shared.stack, contextlib.AsyncExitStack()
            self._shared.watcher = None
            await stack.aclose()
        finally:
            await self._transport.aclose()

    def _require_watcher(self) -> ProjectWatcher:
        watcher = self._shared.watcher
        if watcher is None:
            raise ConfigurationError(
                "wait() polls through the client's shared watcher: "
                "use the client as `async with AsyncVideoAgent(...) as client:`"
            )
        return watcher


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


class _Shared:
    """What a client shares with its ``with_options`` copies besides the transport."""

    def __init__(self, poll_policy: PollPolicy) -> None:
        self.poll_policy = poll_policy
        self.stack = contextlib.AsyncExitStack()
        self.watcher: ProjectWatcher | None = None


class AccountResource:
    """``client.account``: credits, plan and today's usage."""

    def __init__(self, client: AsyncVideoAgent) -> None:
        self._client = client

    async def get(self, *, priority: Priority = Priority.USER) -> Account:
        """The account now; its active-project count also corrects the client's slots."""
        transport = self._client._transport

        def parse(data: Any, request_id: str | None) -> Account:
            account = structure(data, Account, request_id=request_id)
            transport.slots.sync(account.active_projects)
            return account

        return await transport.call(
            "GET", "/account", parse, options=self._client._options, priority=priority
        )


class ApiKeys:
    """``client.api_keys``: the account's API keys."""

    def __init__(self, client: AsyncVideoAgent) -> None:
        self._client = client

    async def list(self) -> tuple[ApiKey, ...]:
        """The account's active keys (their secrets are never shown again)."""

        def parse(data: Any, request_id: str | None) -> tuple[ApiKey, ...]:
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                items = [None]  # let structure() raise its APIResponseError
            return tuple(structure(item, ApiKey, request_id=request_id) for item in items)

        return await self._client._transport.call(
            "GET", "/api-keys", parse, options=self._client._options
        )

    async def create(self, name: str) -> ApiKeyCreated:
        """A new key; its secret (``key``) is shown this once.

        Not resent after an ambiguous failure: a lost answer would lose the secret
        anyway, and a resend could make a second key.
        """
        return await self._client._transport.call(
            "POST",
            "/api-keys",
            lambda data, request_id: structure(data, ApiKeyCreated, request_id=request_id),
            options=self._client._options,
            body={"name": name},
            idempotent=False,
        )

    async def revoke(self, key_id: str) -> None:
        """Revoke a key (safe to retry: a resend checks the key is still there first)."""
        path = f"/api-keys/{check_id(key_id, 'key', 'key_id')}"

        async def revoked() -> bool | None:
            keys = await self.list()
            return True if all(key.id != key_id for key in keys) else None

        await self._client._transport.call(
            "DELETE",
            path,
            lambda _data, _request_id: True,
            options=self._client._options,
            idempotent=False,
            reconcile=revoked,
        )
