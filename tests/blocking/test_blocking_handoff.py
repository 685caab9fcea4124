"""The hand-off between calling threads and the engine's loop (``videoagent._handoff``)."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from blocking_helpers import client_of
from common_helpers import self_signed_tls

from videoagent import ConfigurationError
from videoagent import _handoff as handoff
from videoagent.simulator import BackgroundSimulator


async def _nothing() -> None:
    return None


@pytest.fixture
def loop_thread() -> Iterator[handoff.EngineLoop]:
    """An ``EngineLoop`` running on a thread of its own (its polls counted in ``polls``)."""
    polls: list[int] = []
    loop = handoff.EngineLoop(before_wait=lambda: polls.append(1))
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
    loop_thread: handoff.EngineLoop, eventfd: bool, monkeypatch: pytest.MonkeyPatch
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


def test_a_closed_doorbell_refuses_posts(loop_thread: handoff.EngineLoop) -> None:
    """After ``close`` a post returns ``False`` and nothing more reaches the loop."""
    delivered: list[handoff.Call[None]] = []
    doorbell: handoff.Doorbell = _on(
        loop_thread, lambda: handoff.Doorbell(loop_thread, delivered.append)
    )
    _on(loop_thread, doorbell.close)
    assert doorbell.post(handoff.Call(_nothing, (), {})) is False
    _on(loop_thread, lambda: None)
    assert delivered == []


def test_the_loop_calls_its_hook_each_time_it_polls(loop_thread: handoff.EngineLoop) -> None:
    """``EngineLoop``'s ``before_wait`` runs at every poll for I/O: at each turn of the loop."""
    polls: list[int] = loop_thread.polls  # type: ignore[attr-defined]
    before = len(polls)

    async def turns() -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    asyncio.run_coroutine_threadsafe(turns(), loop_thread).result(10)
    assert len(polls) - before >= 20


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="eventfd is Linux's")
def test_what_the_doorbell_starts_takes_its_first_step_in_the_turn_that_hears_it(
    loop_thread: handoff.EngineLoop,
) -> None:
    """The doorbell is answered within the poll that hears it: a task its answer makes
    runs its first step before the loop polls again (a reader callback would be run
    after that poll, and its task a turn later)."""
    polls: list[int] = loop_thread.polls  # type: ignore[attr-defined]
    seen: list[tuple[str, int]] = []
    stepped = threading.Event()

    async def first_step() -> None:
        seen.append(("first step", len(polls)))
        stepped.set()

    def deliver(call: handoff.Call[None]) -> None:
        seen.append(("answer", len(polls)))
        loop_thread.create_task(first_step())

    doorbell: handoff.Doorbell = _on(loop_thread, lambda: handoff.Doorbell(loop_thread, deliver))
    for _ in range(20):  # (each from a loop asleep in its poll)
        _on(loop_thread, lambda: None)
        stepped.clear()
        seen.clear()
        assert doorbell.post(handoff.Call(_nothing, (), {}))
        assert stepped.wait(10)
        (_, answered), (_, started) = seen
        assert started == answered


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


async def _read_sizes(server_tls: ssl.SSLContext) -> tuple[int, int, int]:
    """What the running loop's connections read at most at once: plain TCP, TLS, and
    TLS begun on an open connection (``start_tls``)."""

    ended: asyncio.Queue[None] = asyncio.Queue()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()
        await writer.wait_closed()
        ended.put_nowait(None)

    client_tls = ssl.create_default_context()
    client_tls.check_hostname, client_tls.verify_mode = False, ssl.CERT_NONE  # (self-signed)
    sizes: list[int] = []
    for server_side, client_side, upgraded in (
        (None, None, False),
        (server_tls, client_tls, False),
        (server_tls, client_tls, True),  # (TLS begun on an open connection: HTTPS via a proxy)
    ):
        if client_side is not None and sys.version_info < (3, 11):  # (its TLS: asyncio's)
            sizes.append(-1)
            continue
        handler = hold if not upgraded else _upgrading(hold, server_tls)
        server = await asyncio.start_server(
            handler, "127.0.0.1", 0, ssl=None if upgraded else server_side
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=None if upgraded else client_side
            )
            if upgraded:
                await writer.start_tls(client_tls)  # (3.11+)
            transport = writer.transport
            reads = getattr(transport, "_ssl_protocol", transport)  # (TLS: what decrypts)
            sizes.append(reads.max_size)
            writer.close()
            await writer.wait_closed()
            await ended.get()  # (the server's side closed too)
    return sizes[0], sizes[1], sizes[2]


def _upgrading(
    then: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any], tls: ssl.SSLContext
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    """A stream handler that begins TLS on the connection first, then runs ``then``."""

    async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.start_tls(tls)  # (3.11+)
        await then(reader, writer)

    return upgrade


@pytest.mark.parametrize(
    ("make_loop", "expected"),
    [
        (lambda: handoff.EngineLoop(before_wait=lambda: None), 64 * 1024),
        (asyncio.SelectorEventLoop, 256 * 1024),
    ],
    ids=["engine", "asyncio"],
)
def test_the_engine_loop_reads_64_kib_at_a_time(
    make_loop: Callable[[], asyncio.AbstractEventLoop], expected: int, tmp_path: Path
) -> None:
    """The engine's connections, plain and TLS, read at most 64 KiB at once; asyncio's read
    256 KiB into a new bytes object, which off the main thread costs a ``mmap``, a
    ``munmap`` and page faults each read (``benchmarks/blocking_throughput.py`` counts them)."""
    loop = make_loop()
    try:
        plain, tls, upgraded = loop.run_until_complete(_read_sizes(self_signed_tls(tmp_path)))
        assert plain == expected
        tls_expected = expected if sys.version_info >= (3, 11) else -1  # (3.10: not changed)
        assert (tls, upgraded) == (tls_expected, tls_expected)
    finally:
        loop.close()
