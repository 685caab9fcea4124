"""The hand-off between calling threads and the engine's loop (``videoagent._handoff``)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from blocking_helpers import client_of

from videoagent import ConfigurationError
from videoagent import _handoff as handoff
from videoagent.simulator import BackgroundSimulator


async def _nothing() -> None:
    return None


@pytest.fixture
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """A ``new_loop`` loop running on a thread of its own (its polls counted in ``polls``)."""
    polls: list[int] = []
    loop = handoff.new_loop(before_wait=lambda: polls.append(1))
    loop.polls = polls  # type: ignore[attr-defined]  # (the test reads it back)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _on(loop: asyncio.AbstractEventLoop, make: Any) -> Any:
    """``make()`` called on ``loop``'s thread; what it returned."""
    return asyncio.run_coroutine_threadsafe(_called(make), loop).result(10)


async def _called(make: Any) -> Any:
    return make()


@pytest.mark.parametrize("eventfd", [True, False], ids=["eventfd", "call_soon_threadsafe"])
def test_every_post_from_many_threads_is_delivered_once_in_order(
    loop_thread: asyncio.AbstractEventLoop, eventfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls posted by 8 threads at once each reach the loop exactly once, each thread's
    in the order posted (on Linux's eventfd, and on the wake-up used elsewhere)."""
    if not eventfd:
        monkeypatch.setattr(handoff, "_eventfd", lambda: -1)
    delivered: list[handoff.Call[None]] = []
    doorbell: handoff.Doorbell = _on(
        loop_thread, lambda: handoff.Doorbell(loop_thread, delivered.append)
    )
    posted = {n: [handoff.Call(_nothing, (n, i), {}) for i in range(300)] for n in range(8)}

    def post_all(calls: list[handoff.Call[None]]) -> None:
        for call in calls:
            assert doorbell.post(call)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post_all, posted.values()))
    _on(loop_thread, lambda: None)  # (one more turn: the last ring is answered)
    _on(loop_thread, lambda: None)
    assert len(delivered) == 8 * 300
    assert len({id(call) for call in delivered}) == 8 * 300
    for n, calls in posted.items():
        assert [call for call in delivered if call.args[0] == n] == calls


def test_a_closed_doorbell_refuses_posts(loop_thread: asyncio.AbstractEventLoop) -> None:
    """After ``close`` a post returns ``False`` and nothing more reaches the loop."""
    delivered: list[handoff.Call[None]] = []
    doorbell: handoff.Doorbell = _on(
        loop_thread, lambda: handoff.Doorbell(loop_thread, delivered.append)
    )
    _on(loop_thread, doorbell.close)
    assert doorbell.post(handoff.Call(_nothing, (), {})) is False
    _on(loop_thread, lambda: None)
    assert delivered == []


def test_the_loop_calls_its_hook_each_time_it_polls(loop_thread: asyncio.AbstractEventLoop) -> None:
    """``new_loop``'s ``before_wait`` runs at every poll for I/O: at each turn of the loop."""
    polls: list[int] = loop_thread.polls  # type: ignore[attr-defined]
    before = len(polls)

    async def turns() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    asyncio.run_coroutine_threadsafe(turns(), loop_thread).result(10)
    assert len(polls) - before >= 20


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux's")
def test_the_engine_thread_does_not_preempt_its_callers(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """The engine thread runs under ``SCHED_BATCH`` (no wake-up preemption); the calling
    thread keeps its own policy."""
    assert sys.platform.startswith("linux")
    with client_of(videoagent_simulator) as client:
        client.account.get()
        (engine,) = [t for t in threading.enumerate() if t.name == "videoagent-engine"]
        assert engine.native_id is not None
        assert os.sched_getscheduler(engine.native_id) == os.SCHED_BATCH
        assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_calls_go_through_without_an_eventfd(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no eventfd (macOS, Windows) the client works the same, from 8
    threads at once; closed, it refuses calls."""
    monkeypatch.setattr(handoff, "_eventfd", lambda: -1)
    client = client_of(videoagent_simulator)
    with client:
        project = client.projects.create("no eventfd here")
        with ThreadPoolExecutor(8) as pool:
            seen = list(pool.map(lambda _: client.projects.get(project.id).id, range(40)))
        assert seen == [project.id] * 40
    with pytest.raises(ConfigurationError, match="closed"):
        client.account.get()
