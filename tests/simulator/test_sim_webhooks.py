"""Webhooks: one signed POST per status change, delivered once, never retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sim_helpers import MakeApi

from videoagent.simulator import sign

PHASE = 500.0


class Receiver:
    """A loopback endpoint that records every webhook it gets."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]

    async def wait_for(self, count: int) -> None:
        """Wait (briefly, in real time) until ``count`` webhooks arrived."""
        for _ in range(500):
            if len(self.calls) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.calls)} webhooks arrived, expected {count}")


async def _serve(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on loopback answering 200."""
    found = Receiver()
    runner = await _serve(found)
    yield found
    await runner.cleanup()


@pytest.fixture
async def failing_receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on loopback answering 500 to everything."""
    found = Receiver(status=500)
    runner = await _serve(found)
    yield found
    await runner.cleanup()


async def test_every_status_change_is_posted_once_and_signed(
    make_api: MakeApi, receiver: Receiver
) -> None:
    """Without any polling, each status the project enters arrives once, signed, in order."""
    sim, api = await make_api()
    started = sim.clock.unix()
    project_id = (await api.create(webhook_url=receiver.url))["id"]
    sim.advance(3 * PHASE)
    await receiver.wait_for(5)
    await asyncio.sleep(0.05)  # nothing more may come
    events = receiver.events()
    assert [e["status"] for e in events] == ["queued", "running", "generating", "rendering", "idle"]
    assert len({e["id"] for e in events}) == 5
    for (headers, body), event in zip(receiver.calls, events, strict=True):
        assert event["type"] == "project.status_changed"
        assert event["project_id"] == project_id
        assert event["id"].startswith("evt_")
        assert headers["X-Webhook-Id"] == event["id"]
        timestamp = headers["X-Webhook-Timestamp"]
        assert int(started) <= int(timestamp) <= sim.clock.unix()
        assert headers["X-Webhook-Signature"] == sign(sim.webhook_secret, timestamp, body)


async def test_webhooks_follow_the_clock_in_real_time(
    make_api: MakeApi, receiver: Receiver
) -> None:
    """At time_scale 0.001 the scheduler posts each change as its time comes, unpolled."""
    _, api = await make_api(time_scale=0.001)
    await api.create(webhook_url=receiver.url)
    await receiver.wait_for(5)
    assert receiver.events()[-1]["status"] == "idle"


async def test_failed_deliveries_are_not_retried(
    make_api: MakeApi, failing_receiver: Receiver
) -> None:
    """An endpoint answering 500 gets each event once all the same."""
    sim, api = await make_api()
    await api.create(webhook_url=failing_receiver.url)
    sim.advance(3 * PHASE)
    await failing_receiver.wait_for(5)
    await asyncio.sleep(0.05)
    assert len(failing_receiver.calls) == 5
    assert sim.stats().webhooks_sent == 5
    assert [d.status for d in sim.webhook_deliveries] == [500] * 5


async def test_user_actions_are_status_changes_too(make_api: MakeApi, receiver: Receiver) -> None:
    """Message, render and cancel each post the status they cause."""
    sim, api = await make_api(decision_points=(1, 1))
    project_id = (await api.create(mode="collaborative", webhook_url=receiver.url))["id"]
    sim.advance(PHASE)
    await api.post(f"/projects/{project_id}/messages", {"content": "go on"})
    sim.advance(3 * PHASE)
    await api.post(f"/projects/{project_id}/render")
    await api.post(f"/projects/{project_id}/cancel")
    await receiver.wait_for(10)
    statuses = [e["status"] for e in receiver.events()]
    assert statuses == [
        "queued", "running", "idle",
        "queued", "running", "generating", "rendering", "idle",
        "rendering", "cancelled",
    ]  # fmt: skip


async def test_a_webhook_added_by_settings_starts_posting(
    make_api: MakeApi, receiver: Receiver
) -> None:
    """PATCH settings with a webhook_url gets the later changes of an active project."""
    sim, api = await make_api()
    project_id = (await api.create())["id"]
    await api.call("PATCH", f"/projects/{project_id}/settings", json={"webhook_url": receiver.url})
    sim.advance(3 * PHASE)
    await receiver.wait_for(4)
    assert [e["status"] for e in receiver.events()] == [
        "running",
        "generating",
        "rendering",
        "idle",
    ]


async def test_each_account_signs_with_its_own_secret(
    make_api: MakeApi, receiver: Receiver
) -> None:
    """An account made with its own webhook secret signs with it."""
    sim, api = await make_api()
    other = api.as_key(sim.add_account(webhook_secret="whsec_other"))
    await other.create(webhook_url=receiver.url)
    await receiver.wait_for(1)
    headers, body = receiver.calls[0]
    expected = sign("whsec_other", headers["X-Webhook-Timestamp"], body)
    assert headers["X-Webhook-Signature"] == expected
