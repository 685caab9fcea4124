"""Correctly signed but unreadable webhook bodies are a 400 at both receivers, over HTTP.

The aiohttp.web receiver (``videoagent.webhooks``, the CLI's ``--webhook-listen``)
and the FastAPI ``webhook_router`` each get the same hostile bodies, signed
with the account's secret by the simulator's own signer: each is answered
400 ``malformed`` (never a 500, never a 204) and makes no request.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import attrs
import pytest
from app_helpers import WEBHOOKS_ONLY, bind_loopback, project_gets, serve, wait_until
from fastapi import FastAPI

from videoagent import AsyncVideoAgent, ProjectWatcher
from videoagent.integrations.fastapi import lifespan, webhook_router
from videoagent.simulator import Simulator, sign
from videoagent.webhooks import aiohttp_receiver


def _event(project_id: str, **fields: object) -> dict[str, object]:
    return {"id": "evt_1", "type": "project.status_changed", "project_id": project_id, **fields}


def _raw(project_id: str, tail: str) -> bytes:
    """An event's JSON with ``tail`` (raw JSON text) as its last fields."""
    return f'{{"id": "evt_1", "type": "t", "project_id": "{project_id}", {tail}}}'.encode()


#: Each case: a name, and the body made from the watched project's id.
CASES: list[tuple[str, Callable[[str], bytes]]] = [
    ("a list", lambda p: json.dumps([_event(p)]).encode()),
    ("nested too deep", lambda p: _raw(p, '"x": ' + "[" * 10_000 + "]" * 10_000)),
    ("NaN", lambda p: _raw(p, '"status": NaN')),
    ("Infinity", lambda p: _raw(p, '"x": -Infinity')),
    ("a number for the status", lambda p: json.dumps(_event(p, status=3)).encode()),
    ("a huge integer for the status", lambda p: _raw(p, '"status": ' + "9" * 4000)),
    ("a huge integer past Python's limit", lambda p: _raw(p, '"x": ' + "9" * 5000)),
    ("invalid UTF-8", lambda p: _raw(p, '"status": "idle"').replace(b"idle", b"id\xffle")),
    ("a lone surrogate in the id", lambda p: json.dumps(_event(p, id="\ud800")).encode()),
    ("a 256-character id", lambda p: json.dumps(_event(p, id="e" * 256)).encode()),
    ("an object for created_at", lambda p: json.dumps(_event(p, created_at={})).encode()),
    ("no project id", lambda p: json.dumps({"id": "evt_1", "type": "t"}).encode()),
    ("a number for the project id", lambda p: json.dumps(_event(12)).encode()),  # type: ignore[arg-type]
    ("a project id not prj_", lambda p: json.dumps(_event(f"{p}/../account")).encode()),
    ("a project id without its prefix", lambda p: json.dumps(_event(p[4:])).encode()),
]


@attrs.frozen
class Receiver:
    """A receiver serving on loopback: its URL and the client whose watcher it notifies."""

    url: str
    client: AsyncVideoAgent
    watcher: ProjectWatcher


def _client(sim: Simulator) -> AsyncVideoAgent:
    """A client that never polls on its own within a test: only a webhook makes it look."""
    return AsyncVideoAgent(
        sim.api_key, sim.base_url, time_scale=sim.time_scale, poll_policy=WEBHOOKS_ONLY
    )


@contextlib.asynccontextmanager
async def _aiohttp_receiver(sim: Simulator) -> AsyncIterator[Receiver]:
    async with (
        _client(sim) as client,
        ProjectWatcher(client, policy=WEBHOOKS_ONLY) as watcher,
        aiohttp_receiver(watcher, sim.webhook_secret) as receiver,
    ):
        yield Receiver(receiver.url, client, watcher)


@contextlib.asynccontextmanager
async def _fastapi_receiver(sim: Simulator) -> AsyncIterator[Receiver]:
    app = FastAPI(lifespan=lifespan(lambda: _client(sim), webhook_secret=sim.webhook_secret))
    app.include_router(webhook_router())
    sock, url = bind_loopback()
    async with serve(app, sock):
        state = app.state.videoagent
        yield Receiver(f"{url}/webhooks/videoagent", state.client, state.watcher)


@pytest.fixture(params=["aiohttp", "fastapi"])
async def receiver(request: pytest.FixtureRequest, simulator: Simulator) -> AsyncIterator[Receiver]:
    """Each receiver in turn, on loopback, its watcher notified by the webhooks it accepts."""
    serve_receiver = _aiohttp_receiver if request.param == "aiohttp" else _fastapi_receiver
    async with serve_receiver(simulator) as found:
        yield found


async def test_unreadable_signed_bodies_are_400_and_poll_nothing(
    simulator: Simulator, receiver: Receiver
) -> None:
    """Every hostile body, correctly signed, is answered 400 ``malformed`` and polls nothing;
    a good webhook after them still makes the watcher look at the project."""
    project = await receiver.client.projects.create("a teaser")  # no webhook_url: we send them
    receiver.watcher.watch(project)

    async def post(body: bytes) -> tuple[int, str]:
        stamp = str(int(time.time()))
        headers = {
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": sign(simulator.webhook_secret, stamp, body),
        }
        async with http.post(receiver.url, data=body, headers=headers) as answer:
            return answer.status, await answer.text()

    async with aiohttp.ClientSession() as http:
        answers = {name: await post(make(project.id)) for name, make in CASES}
        assert answers == dict.fromkeys(answers, (400, "malformed"))
        assert project_gets(simulator, project.id) == []
        good = json.dumps(_event(project.id, id="evt_good", status="running")).encode()
        assert await post(good) == (204, "")
    await wait_until(lambda: len(project_gets(simulator, project.id)) == 1)
