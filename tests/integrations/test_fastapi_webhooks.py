"""The example app under uvicorn, the simulator sending it real signed webhooks.

Routine polls are 1000 real seconds apart here (``WEBHOOKS_ONLY``), far past
any test's deadline: whenever the app looks at a project, a webhook made it.
Projects move one status per ``sim.advance(PHASE)``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from app_helpers import (
    PHASE,
    WEBHOOKS_ONLY,
    WebhookTap,
    bind_loopback,
    example_app,
    open_sse,
    project_gets,
    serve,
    wait_until,
)

from videoagent.simulator import Simulator, sign

LIFECYCLE = ["queued", "running", "generating", "rendering", "idle"]


@pytest.fixture
async def app(sim: Simulator) -> AsyncIterator[tuple[str, WebhookTap]]:
    """The example app under uvicorn on loopback (its URL), webhooks recorded by a tap."""
    sock, url = bind_loopback()
    tap = WebhookTap(example_app(sim, url, policy=WEBHOOKS_ONLY), sim.clock.unix)
    async with serve(tap, sock):
        yield url, tap


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client (a browser's stand-in)."""
    async with aiohttp.ClientSession() as http:
        yield http


async def _create(session: aiohttp.ClientSession, url: str, mode: str = "autonomous") -> str:
    async with session.post(f"{url}/api/projects", json={"brief": "a teaser", "mode": mode}) as r:
        assert r.status == 201, await r.text()
        project_id: str = (await r.json())["id"]
        return project_id


async def test_status_changes_reach_sse_right_after_their_webhooks(
    sim: Simulator, app: tuple[str, WebhookTap], session: aiohttp.ClientSession
) -> None:
    """Each status change is on the SSE stream after its webhook, and each webhook's GET
    comes right after it (before the next one): no routine poll explains any of them.
    (The first webhook announces the "queued" the create already showed: no GET.)"""
    url, tap = app
    project_id = await _create(session, url)
    async with open_sse(session, f"{url}/api/projects/{project_id}/events", sim.clock.unix) as sse:
        first = await sse.until(lambda kind, _: kind == "project")
        assert first["status"] == "queued"
        await wait_until(lambda: len(tap.seen) == 1)  # the queued webhook
        for status in LIFECYCLE[1:]:
            sim.advance(PHASE)
            await sse.until(lambda kind, data, s=status: kind == "project" and data["status"] == s)
        final = sse.events[-1][2]
    assert sse.statuses() == LIFECYCLE
    assert final["has_result"] is True

    hooks = [hook for hook in tap.seen if json.loads(hook.body)["project_id"] == project_id]
    assert [json.loads(h.body)["status"] for h in hooks] == LIFECYCLE
    assert {h.status for h in hooks} == {204}
    gets = project_gets(sim, project_id)
    # One GET per webhook of a new status, and no other: the first webhook says
    # "queued", which the create's answer already showed.
    assert len(gets) == len(hooks) - 1
    for i, hook in enumerate(hooks[1:], start=1):
        next_hook = hooks[i + 1].at if i + 1 < len(hooks) else float("inf")
        assert hook.at <= gets[i - 1] < next_hook
    for status, hook in zip(LIFECYCLE[1:], hooks[1:], strict=True):
        shown = next(
            at for at, kind, d in sse.events if kind == "project" and d["status"] == status
        )
        assert shown >= hook.at


async def test_forged_stale_and_replayed_webhooks_are_refused(
    sim: Simulator,
    app: tuple[str, WebhookTap],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Replays, forged bodies, wrong secrets, stale or future stamps and missing headers are
    refused with 4xx, poll nothing and log no secret; a good webhook then still works."""
    url, tap = app
    project_id = await _create(session, url)
    await wait_until(lambda: len(project_gets(sim, project_id)) == 1)  # the queued webhook's
    genuine = tap.seen[0]
    assert genuine.status == 204
    secret = sim.webhook_secret
    hook_url = f"{url}/webhooks/videoagent"

    def fresh(event_id: str, stamp: int, key: str = secret) -> tuple[dict[str, str], bytes]:
        body = json.dumps(
            {"id": event_id, "type": "project.status_changed", "project_id": project_id,
             "status": "idle", "created_at": "2030-01-01T00:00:00Z"}
        ).encode()  # fmt: skip
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": event_id,
            "X-Webhook-Timestamp": str(stamp),
            "X-Webhook-Signature": sign(key, str(stamp), body),
        }
        return headers, body

    now = int(time.time())
    replay_headers = {k: v for k, v in genuine.headers.items() if k.startswith("x-webhook")}
    tampered = genuine.body.replace(b'"queued"', b'"idle"')
    without_id = {k: v for k, v in replay_headers.items() if k != "x-webhook-id"}
    cases: list[tuple[str, dict[str, str], bytes, int]] = [
        ("replayed", replay_headers, genuine.body, 409),
        ("replayed under no id header", without_id, genuine.body, 409),
        ("replayed, new id", {**replay_headers, "x-webhook-id": "evt_new"}, genuine.body, 400),
        ("body changed", replay_headers, tampered, 401),
        ("wrong secret", *fresh("evt_wrongsecret", now, "whsec_not_the_secret"), 401),
        ("stale", *fresh("evt_stale", now - 400), 401),
        ("from the future", *fresh("evt_future", now + 400), 401),
        ("no signature", {"X-Webhook-Timestamp": str(now)}, genuine.body, 400),
        ("no timestamp", {"X-Webhook-Signature": "v1=00"}, genuine.body, 400),
        ("other scheme", {**replay_headers, "x-webhook-signature": "v0=abc"}, genuine.body, 400),
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="videoagent.webhooks"):
        for name, headers, body, expected in cases:
            async with session.post(hook_url, data=body, headers=headers) as answer:
                assert answer.status == expected, name
    assert len(project_gets(sim, project_id)) == 1  # none of them made the app look

    headers, body = fresh("evt_goodone", int(time.time()))
    async with session.post(hook_url, data=body, headers=headers) as answer:
        assert answer.status == 204
    await wait_until(lambda: len(project_gets(sim, project_id)) == 2)

    refusals = [r.getMessage() for r in caplog.records if r.name == "videoagent.webhooks"]
    assert len(refusals) == len(cases)
    for message in refusals:
        assert secret not in message
        assert project_id not in message  # the body is never logged
