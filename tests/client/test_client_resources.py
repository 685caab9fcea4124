"""Every resource method over real HTTP against the simulator."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from common_helpers import CREATE_COST

from videoagent import (
    AsyncVideoAgent,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    MessageAccepted,
    Project,
    ProjectStatus,
    WaitTimeoutError,
)
from videoagent.simulator import Simulator

Settle = Callable[[Any, AsyncVideoAgent, str], Awaitable[Project]]


async def test_create_and_get(client: AsyncVideoAgent, simulator: Simulator) -> None:
    """create sends what was set, answers a queued project, and get reads it back."""
    project = await client.projects.create(
        "a 20 s teaser", mode="collaborative", metadata={"team": "blue"}
    )
    assert project.status is ProjectStatus.QUEUED
    assert (project.mode, project.brief, dict(project.metadata)) == (
        "collaborative",
        "a 20 s teaser",
        {"team": "blue"},
    )
    assert project.request_id is not None
    assert project.created_at.tzinfo is not None
    again = await client.projects.get(project.id)
    assert again.id == project.id
    assert again.request_id != project.request_id
    (snapshot,) = simulator.projects(simulator.api_key)
    assert snapshot.idempotency_key is not None


async def test_create_defaults_to_autonomous(client: AsyncVideoAgent) -> None:
    """Options left unset are omitted and the API's defaults apply."""
    project = await client.projects.create("brief only")
    assert project.mode == "autonomous"
    assert project.webhook_url is None


async def test_idempotent_create(client: AsyncVideoAgent, simulator: Simulator) -> None:
    """The same idempotency key returns the same project; other parameters conflict."""
    first = await client.projects.create("same", idempotency_key="order-42")
    second = await client.projects.create("same", idempotency_key="order-42")
    assert second.id == first.id
    with pytest.raises(ConflictError):
        await client.projects.create("different", idempotency_key="order-42")
    assert simulator.stats(simulator.api_key).projects_created == 1


async def test_list_iterates_every_page(client: AsyncVideoAgent) -> None:
    """list follows the cursor across pages, newest first, and filters by status."""
    created = [(await client.projects.create(f"brief {i}")).id for i in range(3)]
    listed = [project.id async for project in client.projects.list(limit=2)]
    assert listed == created[::-1]
    cancelled = await client.projects.cancel(created[0])
    assert cancelled.status is ProjectStatus.CANCELLED
    only = [p.id async for p in client.projects.list(status=ProjectStatus.CANCELLED)]
    assert only == [created[0]]


async def test_collaboration_and_message_cursor(
    client: AsyncVideoAgent, simulator: Simulator, settle: Settle
) -> None:
    """send_message answers the stored message; messages(after=) returns only newer ones."""
    project = await client.projects.create("collab", mode="collaborative")
    project = await settle(simulator, client, project.id)
    assert project.status is ProjectStatus.IDLE
    assert project.agent_message
    first = [m async for m in client.projects.messages(project.id)]
    assert [m.role for m in first] == ["agent"]
    accepted = await client.projects.send_message(project.id, "make it warmer")
    assert isinstance(accepted, MessageAccepted)
    assert accepted.message.content == "make it warmer"
    assert accepted.project.status.is_active
    newer = [m async for m in client.projects.messages(project.id, after=first[-1].id, limit=1)]
    assert newer[0].id == accepted.message.id
    assert all(m.id != first[-1].id for m in newer)


async def test_update_settings(client: AsyncVideoAgent) -> None:
    """update_settings switches the mode and removes a webhook with None."""
    project = await client.projects.create("settings")
    updated = await client.projects.update_settings(project.id, mode="collaborative")
    assert updated.mode == "collaborative"
    cleared = await client.projects.update_settings(project.id, webhook_url=None)
    assert cleared.webhook_url is None


async def test_cancel_frees_the_slot(client: AsyncVideoAgent) -> None:
    """A cancelled project no longer holds an active slot of the client."""
    project = await client.projects.create("to cancel")
    assert client.statistics().slots.held == 1
    cancelled = await client.projects.cancel(project.id)
    assert cancelled.status is ProjectStatus.CANCELLED
    assert client.statistics().slots.held == 0
    with pytest.raises(ConflictError):
        await client.projects.cancel(project.id)


async def test_render_result_and_verified_download(
    client: AsyncVideoAgent, simulator: Simulator, settle: Settle, tmp_path: Path
) -> None:
    """A finished project renders again, and its video downloads verified to disk."""
    project = await client.projects.create("render me")
    project = await settle(simulator, client, project.id)
    assert project.has_result
    rendering = await client.projects.render(project.id, resolution="1080p")
    assert rendering.status is ProjectStatus.RENDERING
    await settle(simulator, client, project.id)
    result = await client.projects.result(project.id)
    assert result.resolution == "1080p"
    destination = tmp_path / "out" / "teaser.mp4"
    path = await client.projects.download(project.id, destination)
    assert path == destination
    data = path.read_bytes()
    assert len(data) == result.size_bytes
    assert hashlib.sha256(data).hexdigest() == result.sha256
    assert sorted(p.name for p in destination.parent.iterdir()) == ["teaser.mp4"]


async def test_account(client: AsyncVideoAgent) -> None:
    """account.get shows the credits a create charged and the active project."""
    before = await client.account.get()
    await client.projects.create("costs 50")
    after = await client.account.get()
    assert before.credits - after.credits == CREATE_COST
    assert after.active_projects == 1
    assert after.plan == "free"


async def test_api_keys(client: AsyncVideoAgent, simulator: Simulator) -> None:
    """A created key works, is listed, and stops working once revoked."""
    created = await client.api_keys.create("ci")
    assert created.key.startswith("es_live_")
    assert created.id in {key.id for key in await client.api_keys.list()}
    async with AsyncVideoAgent(
        created.key, simulator.base_url, time_scale=simulator.time_scale
    ) as other:
        assert (await other.account.get()).credits > 0
        await client.api_keys.revoke(created.id)
        with pytest.raises(AuthenticationError):
            await other.account.get()
    assert created.id not in {key.id for key in await client.api_keys.list()}


async def test_wait_polls_to_a_terminal_status(
    client: AsyncVideoAgent, simulator: Simulator
) -> None:
    """wait() returns the project once it is idle, polling through the shared watcher."""
    project = await client.projects.create("wait for me")
    simulator.advance(3_600)
    done = await client.projects.wait(project.id, timeout=3_600.0)
    assert done.status is ProjectStatus.IDLE
    assert done.has_result


async def test_wait_deadline(client: AsyncVideoAgent) -> None:
    """A wait deadline (contract seconds, scaled) raises WaitTimeoutError, a TimeoutError."""
    project = await client.projects.create("too slow")
    with pytest.raises(WaitTimeoutError) as info:
        await client.projects.wait(project.id, timeout=1.0)
    assert isinstance(info.value, TimeoutError)


async def test_wait_needs_async_with(simulator: Simulator) -> None:
    """A client never entered has no watcher: wait() says to use ``async with``."""
    client = AsyncVideoAgent(simulator.api_key, simulator.base_url, time_scale=0.01)
    try:
        with pytest.raises(ConfigurationError, match="async with"):
            await client.projects.wait("prj_abcdefgh12")
    finally:
        await client.aclose()


async def test_our_creates_leave_the_slots_of_unknown_active_projects_taken(
    client: AsyncVideoAgent, simulator: Simulator
) -> None:
    """Two projects of another client, then ours: three creates go, the fourth waits (no 429)."""
    async with AsyncVideoAgent(
        simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
    ) as other:
        for n in range(2):
            await other.projects.create(f"theirs {n}")
    ttl = 30.0 * simulator.time_scale  # how long unknown active projects hold a slot (real s)
    synced = time.monotonic()
    await client.account.get()  # the server's count: two active projects we do not know
    for n in range(3):
        await client.projects.create(f"mine {n}")
    stats = client.statistics().slots
    left = synced + ttl - time.monotonic()
    if left <= 0:
        pytest.skip("the machine stalled past the unknown projects' hold; nothing to judge")
    assert (stats.held, stats.foreign) == (3, 2)
    with anyio.move_on_after(left) as waited:
        await client.projects.create("a fourth of ours")
    assert waited.cancelled_caught  # it waited for a slot instead of being sent
    assert len(simulator.projects()) == 5
    assert simulator.stats().project_limit == 0
