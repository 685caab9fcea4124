"""Retries under injected faults, Retry-After, and the request limiter, over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from common_helpers import REQUEST_LIMIT

from videoagent import (
    APIConnectionError,
    AsyncVideoAgent,
    Limits,
    Project,
    ProjectStatus,
    ServiceUnavailableError,
)
from videoagent.simulator import Simulator

Settle = Callable[[Any, AsyncVideoAgent, str], Awaitable[Project]]

#: Half the requests fail, in every way the simulator knows but slowness.
MIXED = {"error_500": 0.1, "error_503": 0.1, "drop": 0.1, "truncate": 0.1, "non_json": 0.1}


#: Injected 500s and 503s show in the request log by their error code.
ANSWER_CODES = {"internal_error": "error_500", "service_unavailable": "error_503"}


def make_client(sim: Simulator, **options: Any) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale, with ``options``."""
    settings: dict[str, Any] = {"time_scale": sim.time_scale, "max_retries": 12, **options}
    return AsyncVideoAgent(sim.api_key, sim.base_url, **settings)


async def test_create_under_mixed_faults_makes_exactly_one_project_each(
    simulator: Simulator,
) -> None:
    """Five creates through 50% faults all succeed, and the server holds five projects."""
    simulator.set_faults(**MIXED, retry_after=1)
    async with make_client(simulator) as client:
        projects = [await client.projects.create(f"brief {i}") for i in range(5)]
    assert len({p.id for p in projects}) == 5
    assert len(simulator.projects(simulator.api_key)) == 5


@pytest.mark.parametrize("fault", ["error_500", "error_503", "drop", "truncate", "non_json"])
async def test_create_retried_after_each_fault_kind(simulator: Simulator, fault: str) -> None:
    """Two creates lost in a row to one kind of fault still make exactly one project."""
    simulator.set_faults(**{fault: 1.0}, only="POST /v1/projects", count=2, retry_after=1)
    async with make_client(simulator) as client:
        project = await client.projects.create("one only")
    (snapshot,) = simulator.projects(simulator.api_key)
    assert snapshot.id == project.id
    seen = [r.fault or ANSWER_CODES.get(r.code or "") for r in simulator.request_log]
    assert seen == [fault, fault, None]
    assert simulator.stats(simulator.api_key).projects_created == 1


@pytest.mark.parametrize("fault", ["drop", "truncate", "non_json", "error_500"])
async def test_send_message_after_a_lost_answer_is_sent_once(
    simulator: Simulator, settle: Settle, fault: str
) -> None:
    """Feedback whose answer is lost is checked, not resent: one user message."""
    async with make_client(simulator) as client:
        project_id = (await client.projects.create("c", mode="collaborative")).id
        await settle(simulator, client, project_id)
        simulator.set_faults(**{fault: 1.0}, only="POST /v1/projects/", count=1)
        accepted = await client.projects.send_message(project_id, "warmer, please")
        assert accepted.message.content == "warmer, please"
        users = [m async for m in client.projects.messages(project_id) if m.role == "user"]
    assert len(users) == 1
    posts = [r for r in simulator.request_log if r.method == "POST"]
    assert fault in {r.fault or ANSWER_CODES.get(r.code or "") for r in posts}


async def test_lost_answer_is_reconciled_even_without_retries(
    simulator: Simulator, settle: Settle
) -> None:
    """With retries off, a message whose answer was dropped is still found, not reported lost."""
    async with make_client(simulator, max_retries=0) as client:
        project_id = (await client.projects.create("c", mode="collaborative")).id
        await settle(simulator, client, project_id)
        simulator.set_faults(drop=1.0, only="POST /v1/projects/", count=1)
        accepted = await client.projects.send_message(project_id, "ship it")
    assert accepted.message.content == "ship it"
    posts = [r for r in simulator.request_log if r.method == "POST" and "messages" in r.path]
    assert [r.fault for r in posts] == ["drop"]


async def test_render_and_cancel_after_lost_answers(simulator: Simulator, settle: Settle) -> None:
    """Render and cancel survive dropped answers without a 409 or a second render."""
    async with make_client(simulator) as client:
        to_render = (await client.projects.create("render")).id
        to_cancel = (await client.projects.create("cancel")).id
        await settle(simulator, client, to_render)
        simulator.set_faults(drop=1.0, only=f"POST /v1/projects/{to_render}/render", count=1)
        rendering = await client.projects.render(to_render)
        simulator.set_faults(drop=1.0, only=f"POST /v1/projects/{to_cancel}/cancel", count=1)
        cancelled = await client.projects.cancel(to_cancel)
    assert rendering.status is ProjectStatus.RENDERING
    assert cancelled.status is ProjectStatus.CANCELLED
    (snapshot,) = [p for p in simulator.projects() if p.id == to_render]
    assert snapshot.renders == 1
    dropped = [r.path.rsplit("/", 1)[-1] for r in simulator.request_log if r.fault == "drop"]
    assert dropped == ["render", "cancel"]


async def test_actions_without_a_key_read_once_before_sending(
    simulator: Simulator, settle: Settle
) -> None:
    """Without faults, render reads the project and send_message the messages once before
    sending (their baselines for a lost answer); cancel sends at once."""
    # no slot accounting: the shared watcher tracks (and polls) nothing in between
    async with make_client(simulator, limits=Limits(active_projects=None)) as client:
        rendered = (await client.projects.create("render")).id
        guided = (await client.projects.create("guide", mode="collaborative")).id
        await settle(simulator, client, rendered)
        await settle(simulator, client, guided)
        start = len(simulator.request_log)
        await client.projects.render(rendered)
        await client.projects.send_message(guided, "go on")
        await client.projects.cancel(rendered)
    calls = [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in simulator.request_log[start:]]
    assert calls == [
        f"GET {rendered}",
        "POST render",
        "GET messages",
        "POST messages",
        "POST cancel",
    ]


async def test_retry_after_is_honoured(simulator: Simulator) -> None:
    """After a 503 with Retry-After: 20, the retry waits at least 20 scaled seconds."""
    simulator.set_faults(error_503=1.0, retry_after=20)
    async with make_client(simulator, max_retries=1) as client:
        with pytest.raises(ServiceUnavailableError) as info:
            await client.account.get()
    assert info.value.retry_after == 20
    first, second = simulator.request_log
    assert second.at - first.at >= 20 * simulator.time_scale


async def test_a_429_waits_its_retry_after_then_succeeds(simulator: Simulator) -> None:
    """With the limiter off, the server's 429 is waited out (Retry-After) and retried."""
    async with make_client(simulator, limits=Limits.unlimited()) as client:
        for _ in range(31):
            await client.account.get()
    log = simulator.request_log
    limited = [i for i, record in enumerate(log) if record.code == "rate_limited"]
    assert limited
    first = limited[0]
    # 30 requests in a few contract seconds: the first slot frees ~60 s after the first one
    assert log[first + 1].at - log[first].at >= 50 * simulator.time_scale
    assert log[-1].status == 200


async def test_limiter_keeps_every_window_at_30(simulator: Simulator) -> None:
    """75 concurrent calls never put more than 30 requests in any 60 s window."""
    async with make_client(simulator) as client, anyio.create_task_group() as tg:
        for _ in range(75):
            tg.start_soon(client.account.get)
    stats = simulator.stats(simulator.api_key)
    assert stats.requests == 75
    assert stats.rate_limited == 0
    assert stats.max_window_requests <= REQUEST_LIMIT


async def test_two_clients_share_an_account(simulator: Simulator) -> None:
    """Two clients on one account learn of each other from the headers and all succeed."""
    # 5 real seconds an attempt: a loaded machine's slow answer is no timeout and resend here.
    first, second = make_client(simulator, timeout=500), make_client(simulator, timeout=500)
    async with first, second, anyio.create_task_group() as tg:
        for _ in range(25):
            tg.start_soon(first.account.get)
            tg.start_soon(second.account.get)
    stats = simulator.stats(simulator.api_key)
    assert stats.requests == 50
    assert stats.max_window_requests <= REQUEST_LIMIT


async def test_create_waits_for_a_server_slot() -> None:
    """A project_limit 429 with a short Retry-After makes create wait and succeed once."""
    short = {"queued": (1.0, 1.0), "running": (5.0, 5.0), "generating": (5.0, 5.0)}
    sim = Simulator(time_scale=0.01, seed=7, durations=short)
    async with sim, make_client(sim, limits=Limits(active_projects=None)) as client:
        for i in range(6):
            await client.projects.create(f"p{i}")
        stats = sim.stats(sim.api_key)
    assert stats.project_limit >= 1
    assert stats.projects_created == 6


async def test_a_dropped_connection_is_resent_by_the_sdk_alone(simulator: Simulator) -> None:
    """aiohttp's own resend of a GET or DELETE is off: each request passes the limiter once.

    With it on, a GET whose connection drops reaches the server twice on one
    ticket, and a DELETE is resent without the SDK's look first (its 404 then
    hides that the key was revoked).
    """
    client = make_client(simulator, max_retries=0)  # not entered: no watcher polls meanwhile
    try:
        project = await client.projects.create("brief")
        simulator.set_faults(drop=1.0, only="GET /v1/projects/", count=1)
        with pytest.raises(APIConnectionError):
            await client.projects.get(project.id)
        gets = [r for r in simulator.request_log if r.method == "GET"]
        assert [(r.status, r.fault) for r in gets] == [(None, "drop")]
        key = await client.api_keys.create("short-lived")
        simulator.set_faults(drop=1.0, only="DELETE /v1/api-keys/", count=1)
        await client.api_keys.revoke(key.id)  # reconciled: the first DELETE took effect
        deletes = [r for r in simulator.request_log if r.method == "DELETE"]
        assert [(r.status, r.fault) for r in deletes] == [(None, "drop")]
        assert all(k.id != key.id for k in await client.api_keys.list())
    finally:
        await client.aclose()
