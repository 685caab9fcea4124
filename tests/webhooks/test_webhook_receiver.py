"""The aiohttp.web receiver (the CLI's ``--webhook-listen``) with the simulator's real webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from videoagent import AsyncVideoAgent, PollPolicy, ProjectStatus, ProjectWatcher
from videoagent.simulator import Simulator
from videoagent.webhooks import aiohttp_receiver, sign

#: Routine polls 1000 real seconds apart: in these tests only a webhook makes a GET.
NEVER = 100_000.0
WEBHOOKS_ONLY = PollPolicy(
    queued=NEVER, running=NEVER, generating=(NEVER, NEVER), rendering=NEVER, unknown=NEVER
)
PHASE = 1000.0
STEPPED = dict.fromkeys(("queued", "running", "generating", "rendering"), (PHASE, PHASE))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator whose phases last until the test advances its clock."""
    async with Simulator(time_scale=0.01, seed=7, durations=STEPPED) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[AsyncVideoAgent]:
    """A client whose shared watcher never polls on its own within a test."""
    async with AsyncVideoAgent(
        sim.api_key, sim.base_url, time_scale=sim.time_scale, poll_policy=WEBHOOKS_ONLY
    ) as opened:
        yield opened


@pytest.fixture
async def watcher(client: AsyncVideoAgent) -> AsyncIterator[ProjectWatcher]:
    """A watcher of ``client`` that never polls on its own within a test."""
    async with ProjectWatcher(client, policy=WEBHOOKS_ONLY) as found:
        yield found


def _gets(sim: Simulator, project_id: str) -> int:
    path = f"/v1/projects/{project_id}"
    return sum(1 for r in sim.request_log if r.method == "GET" and r.path == path)


async def test_webhooks_drive_the_watcher_to_the_end(
    sim: Simulator, client: AsyncVideoAgent, watcher: ProjectWatcher
) -> None:
    """Each webhook of a new status makes the watcher GET the project once; wait() ends on the last.

    The first webhook announces ``queued``, which the create's own answer
    already showed: it costs no request.
    """
    async with aiohttp_receiver(watcher, sim.webhook_secret) as receiver:
        assert receiver.url == f"http://127.0.0.1:{receiver.port}/webhooks/videoagent"
        project = await client.projects.create("a teaser", webhook_url=receiver.url)
        watcher.watch(project)
        await _wait_for_deliveries(sim, project.id, 1)  # queued: already seen
        for step in range(4):  # running, generating, rendering, idle: one webhook, one GET
            sim.advance(PHASE)
            await _wait_for_gets(sim, project.id, step + 1)
        done = await watcher.wait(project.id)
    assert done.status is ProjectStatus.IDLE
    assert done.has_result
    deliveries = [d for d in sim.webhook_deliveries if d.project_id == project.id]
    assert [d.status for d in deliveries] == [204] * 5
    assert _gets(sim, project.id) == len(deliveries) - 1


async def test_the_receiver_refuses_forgeries_and_replays(
    sim: Simulator, client: AsyncVideoAgent, watcher: ProjectWatcher
) -> None:
    """A wrong signature is 401, a replayed event 409, a huge body 413: none makes a request."""
    secret = sim.webhook_secret

    def signed(event_id: str, key: str = secret) -> tuple[bytes, dict[str, str]]:
        stamp = str(int(time.time()))
        event = {"id": event_id, "type": "project.status_changed", "project_id": project.id}
        body = json.dumps(event).encode()
        return body, {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(key, stamp, body)}

    async with (
        aiohttp_receiver(watcher, secret) as receiver,
        aiohttp.ClientSession() as http,
    ):
        project = await client.projects.create("a teaser")  # no webhook_url: we send them
        watcher.watch(project)

        async def post(body: bytes, headers: dict[str, str]) -> int:
            async with http.post(receiver.url, data=body, headers=headers) as answer:
                return answer.status

        assert await post(*signed("evt_x1", "whsec_wrong")) == 401
        body, headers = signed("evt_x1")
        assert await post(body, headers) == 204
        await _wait_for_gets(sim, project.id, 1)
        assert await post(body, headers) == 409
        assert await post(b"x" * 70_000, headers) == 413
        assert await post(*signed("evt_x2")) == 204  # a control: the next good one polls
        await _wait_for_gets(sim, project.id, 2)
    assert _gets(sim, project.id) == 2


async def _wait_for_gets(sim: Simulator, project_id: str, count: int) -> None:
    with anyio.fail_after(10):
        while _gets(sim, project_id) < count:  # noqa: ASYNC110 - the simulator's log: no event
            await anyio.sleep(0.005)


async def _wait_for_deliveries(sim: Simulator, project_id: str, count: int) -> None:
    def delivered() -> int:
        return sum(1 for d in sim.webhook_deliveries if d.project_id == project_id and d.status)

    with anyio.fail_after(10):
        while delivered() < count:  # noqa: ASYNC110 - the simulator's log: no event
            await anyio.sleep(0.005)
    assert _gets(sim, project_id) == 0
