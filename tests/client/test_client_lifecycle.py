"""The client's session: opened and closed once, shared by copies, safe under cancellation."""

from __future__ import annotations

import asyncio

import aiohttp
import anyio
import pytest

from videoagent import AsyncVideoAgent, ConfigurationError, Limits, RetryPolicy
from videoagent._wiring import wiring_of
from videoagent.simulator import Simulator


def make_client(sim: Simulator, **options: object) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale."""
    return AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale, **options)  # type: ignore[arg-type]


async def test_async_with_closes_the_session(simulator: Simulator) -> None:
    """Leaving ``async with`` closes the session; a closed client refuses requests."""
    client = make_client(simulator)
    async with client:
        await client.account.get()
        session = wiring_of(client).caller.transport._session.get()
        assert session is not None
        assert not session.closed
    assert session.closed
    with pytest.raises(ConfigurationError, match="closed"):
        await client.account.get()
    await client.aclose()  # idempotent


@pytest.mark.parametrize("name", ["aclose", "close"])
async def test_aclose_without_async_with(simulator: Simulator, name: str) -> None:
    """A client used without ``async with`` is closed by ``aclose()`` (or openai's
    ``close()``), once and for all."""
    client = make_client(simulator)
    await client.account.get()
    session = wiring_of(client).caller.transport._session.get()
    await getattr(client, name)()
    assert session is not None
    assert session.closed
    with pytest.raises(ConfigurationError, match="closed"):
        await client.account.get()


async def test_a_callers_session_stays_open(simulator: Simulator) -> None:
    """A session passed in is used for every request and left open."""
    async with aiohttp.ClientSession() as session:
        async with make_client(simulator, session=session) as client:
            await client.account.get()
            assert wiring_of(client).caller.transport._session.get() is session
        assert not session.closed


async def test_with_options_shares_session_and_limiter(simulator: Simulator) -> None:
    """A copy shares the session and the limiter, and closing it closes nothing."""
    async with make_client(simulator) as client:
        quick = client.with_options(timeout=5.0, max_retries=0)
        assert (quick.timeout, quick.max_retries) == (5.0, 0)
        assert (client.timeout, client.max_retries) == (30.0, 4)
        await quick.account.get()
        assert wiring_of(quick).caller is wiring_of(client).caller
        await quick.aclose()
        await client.account.get()
        assert client.statistics().requests.held == 2


async def test_with_options_retry_keeps_max_retries_as_the_constructor_does(
    simulator: Simulator,
) -> None:
    """A new ``retry`` does not reset ``max_retries``: the argument (or the client's) wins."""
    client = make_client(simulator, max_retries=0, retry=RetryPolicy(backoff_max=5.0))
    assert client.max_retries == 0
    copy = client.with_options(retry=RetryPolicy(backoff_max=9.0, max_retries=7))
    assert (copy.max_retries, copy._options.retry.backoff_max) == (0, 9.0)
    assert client.with_options(retry=RetryPolicy(), max_retries=2).max_retries == 2


async def test_cancellation_mid_request_leaks_nothing(simulator: Simulator) -> None:
    """Cancelling a request in flight frees its ticket and closes cleanly."""
    simulator.set_faults(slow=1.0, slow_seconds=100.0)
    async with make_client(simulator, timeout=1_000.0) as client:
        with anyio.move_on_after(0.2) as scope:
            await client.account.get()
        assert scope.cancelled_caught
        assert client.statistics().requests.in_flight == 0
        simulator.set_faults()
        await client.account.get()


async def test_environment_configuration(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without arguments the key and the base URL come from the environment."""
    monkeypatch.setenv("VIDEOAGENT_API_KEY", simulator.api_key)
    monkeypatch.setenv("VIDEOAGENT_BASE_URL", simulator.base_url + "/")
    async with AsyncVideoAgent(time_scale=simulator.time_scale) as client:
        assert (await client.account.get()).credits > 0
    monkeypatch.delenv("VIDEOAGENT_BASE_URL")
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_BASE_URL"):
        AsyncVideoAgent()


def test_bad_options_are_configuration_errors() -> None:
    """Nonsense options fail at construction with ConfigurationError."""
    key, url = "es_live_" + "x" * 32, "http://127.0.0.1:9/v1"
    for options in ({"timeout": 0}, {"max_retries": -1}, {"time_scale": 0}):
        with pytest.raises(ConfigurationError):
            AsyncVideoAgent(key, url, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AsyncVideoAgent(key, "ftp://example.com/v1")
    assert AsyncVideoAgent(key, url, limits=Limits.unlimited()).limits.requests is None


def _background_tasks() -> list[asyncio.Task[object]]:
    """The SDK's background tasks still running (all named ``videoagent ...``)."""
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("videoagent")]


async def test_entered_in_one_task_and_closed_in_another(simulator: Simulator) -> None:
    """Entered by a task that has ended and closed by another (pytest-asyncio runs a
    fixture's setup and teardown so), the client waits, then closes cleanly: its
    background tasks end and its session closes."""
    client = make_client(simulator)
    await asyncio.create_task(client.__aenter__())  # (that task ends here)
    assert _background_tasks() != []
    project = await client.projects.create("a teaser")
    assert (await client.projects.wait(project.id)).status.value == "idle"
    session = wiring_of(client).caller.transport._session.get()
    await asyncio.create_task(client.__aexit__(None, None, None))
    assert session is not None
    assert session.closed
    assert _background_tasks() == []


async def test_closed_elsewhere_while_the_entering_task_runs(simulator: Simulator) -> None:
    """Closed by another task while the task that entered still runs, the client ends its
    background tasks and closes its session, then says so with ``ConfigurationError``."""
    client = make_client(simulator)
    entered, release = anyio.Event(), anyio.Event()

    async def holder() -> None:
        await client.__aenter__()
        entered.set()
        await release.wait()

    task = asyncio.create_task(holder())
    await entered.wait()
    assert _background_tasks() != []
    session = wiring_of(client).caller.transport._session.get()
    with pytest.raises(ConfigurationError, match="closed by another"):
        await client.aclose()
    assert session is not None
    assert session.closed
    assert _background_tasks() == []
    release.set()
    await task
