"""Every error class, raised by real answers of the simulator (or before sending)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from videoagent import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    AsyncVideoAgent,
    AuthenticationError,
    ConflictError,
    InsufficientCreditsError,
    InternalServerError,
    Limits,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    Project,
    ProjectLimitError,
    RateLimitError,
    ServiceUnavailableError,
    ValidationError,
)
from videoagent._wiring import wiring_of
from videoagent.simulator import Simulator

Settle = Callable[[Any, AsyncVideoAgent, str], Awaitable[Project]]


def make_client(sim: Simulator, key: str | None = None, **options: Any) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale, with ``options``."""
    return AsyncVideoAgent(key or sim.api_key, sim.base_url, time_scale=sim.time_scale, **options)


async def test_validation_error(client: AsyncVideoAgent) -> None:
    """An empty brief sent past the client's own checks is a 400 whose fields are parsed."""
    with pytest.raises(ValidationError) as info:
        await wiring_of(client).caller.call(
            "POST", "/projects", _raw, options=client._options, body={"brief": ""}
        )
    assert info.value.status == 400
    assert "brief" in info.value.errors
    assert info.value.request_id is not None


async def test_authentication_error(simulator: Simulator) -> None:
    """An unknown key is a 401."""
    async with make_client(simulator, "es_live_" + "x" * 32) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.account.get()
    assert (info.value.status, info.value.code) == (401, "unauthorized")


async def test_insufficient_credits(simulator: Simulator) -> None:
    """An account under 50 credits cannot create."""
    async with make_client(simulator, simulator.add_account(credits=40)) as client:
        with pytest.raises(InsufficientCreditsError):
            await client.projects.create("too poor")
        assert client.statistics().slots.pending == 0


async def test_permission_denied(
    client: AsyncVideoAgent, simulator: Simulator, settle: Settle
) -> None:
    """A 4K render on the free plan is a 403, and its slot is given back."""
    project = await client.projects.create("4k please")
    await settle(simulator, client, project.id)
    with pytest.raises(PermissionDeniedError):
        await client.projects.render(project.id, resolution="4k")
    assert client.statistics().slots.pending == 0


async def test_not_found(client: AsyncVideoAgent) -> None:
    """An unknown project is a 404 carrying the request id."""
    with pytest.raises(NotFoundError) as info:
        await client.projects.get("prj_doesnotexist00")
    assert info.value.request_id is not None


async def test_conflict(client: AsyncVideoAgent) -> None:
    """A message to a project that is still working is a 409."""
    project = await client.projects.create("busy")
    with pytest.raises(ConflictError):
        await client.projects.send_message(project.id, "hello?")


async def test_payload_too_large_before_sending(
    client: AsyncVideoAgent, simulator: Simulator
) -> None:
    """A body over 1 MiB raises without reaching the server."""
    with pytest.raises(PayloadTooLargeError):
        await wiring_of(client).caller.call(
            "POST", "/projects", _raw, options=client._options, body={"brief": "x" * 1_048_577}
        )
    assert simulator.request_log == []


@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")  # aiohttp, > 1 MiB
async def test_payload_too_large_from_the_server(
    client: AsyncVideoAgent, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client-side check lifted, the server's 413 maps to the same class."""
    monkeypatch.setattr("videoagent._retry.MAX_BODY_BYTES", 4 << 20)
    with pytest.raises(PayloadTooLargeError) as info:
        await wiring_of(client).caller.call(
            "POST", "/projects", _raw, options=client._options, body={"brief": "x" * 1_100_000}
        )
    assert (info.value.status, info.value.code) == (413, "payload_too_large")
    assert info.value.request_id == simulator.request_log[-1].request_id


async def test_daily_project_limit_raises_at_once() -> None:
    """The daily project limit answers hours of Retry-After: raised, not slept."""
    sim = Simulator(time_scale=0.01, seed=7, projects_per_day=1)
    async with sim, make_client(sim) as client:
        await client.projects.create("the only one today")
        with pytest.raises(ProjectLimitError) as info:
            await client.projects.create("one too many")
    assert info.value.retry_after is not None
    assert info.value.retry_after > 120


async def test_active_project_limit_from_the_server() -> None:
    """Without client-side slots, the sixth active project is a 429 project_limit."""
    sim = Simulator(time_scale=0.01, seed=7)
    unslotted = Limits(active_projects=None)
    async with sim, make_client(sim, limits=unslotted, max_retries=0) as client:
        for i in range(5):
            await client.projects.create(f"p{i}")
        with pytest.raises(ProjectLimitError) as info:
            await client.projects.create("sixth")
    assert info.value.code == "project_limit"
    assert sim.stats(sim.api_key).projects_created == 5


async def test_rate_limited_without_a_client_limiter(simulator: Simulator) -> None:
    """With the limiter off and no retries, the 31st request in a window is a 429."""
    async with make_client(simulator, limits=Limits.unlimited(), max_retries=0) as client:
        for _ in range(30):
            await client.account.get()
        with pytest.raises(RateLimitError) as info:
            await client.account.get()
    assert info.value.retry_after is not None
    assert info.value.status == 429


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        ("error_500", InternalServerError),
        ("error_503", ServiceUnavailableError),
        ("drop", APIConnectionError),
        ("truncate", APIConnectionError),
        ("non_json", APIResponseError),
    ],
)
async def test_server_faults_without_retries(
    simulator: Simulator, fault: str, cls: type[Exception]
) -> None:
    """Each injected fault raises its class when retries are off."""
    simulator.set_faults(**{fault: 1.0})
    async with make_client(simulator, max_retries=0) as client:
        with pytest.raises(cls):
            await client.account.get()


async def test_timeout(simulator: Simulator) -> None:
    """An answer slower than the (scaled) timeout raises APITimeoutError, a TimeoutError."""
    simulator.set_faults(slow=1.0, slow_seconds=60.0)
    async with make_client(simulator, max_retries=0, timeout=10.0) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.account.get()
    assert isinstance(info.value, TimeoutError)


async def test_connection_refused() -> None:
    """Nothing listening is an APIConnectionError after the retries."""
    async with AsyncVideoAgent(
        "es_live_" + "x" * 32, "http://127.0.0.1:9/v1", time_scale=0.001, max_retries=1
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.account.get()


def _raw(data: Any, request_id: str | None) -> Any:
    return data
