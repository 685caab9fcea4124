"""Edges of the blocking hand-off (``_handoff``, ``_engine``): interrupts, races with
``close()``, contexts, fork, a refused eventfd, and ``watcher.events()`` at the end.

Each test pins one behaviour; none may hang (every wait is bounded, and what could
deadlock an interpreter runs in a child process).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from blocking_helpers import client_of, run_script

from videoagent import ConfigurationError, ProjectStatus, StatusChanged, VideoAgent
from videoagent import _handoff as handoff
from videoagent._blocking import _Pulled  # pyright: ignore[reportPrivateUsage]
from videoagent._engine import Engine
from videoagent.simulator import BackgroundSimulator

_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="engine")


def _runner(client: VideoAgent) -> Any:
    return client._driver.engine._runner  # pyright: ignore[reportPrivateUsage]


def _in_thread(act: Any) -> tuple[threading.Thread, list[object]]:
    """``act()`` on a daemon thread; its value or exception lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(act())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


class _LoopProxy:
    """A doorbell's loop whose ``call_soon_threadsafe`` runs ``before()`` first."""

    def __init__(self, loop: Any, before: Any) -> None:
        self._loop = loop
        self._before = before

    def call_soon_threadsafe(self, *args: Any) -> Any:
        self._before()
        return self._loop.call_soon_threadsafe(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


@pytest.mark.parametrize("eventfd", [True, False], ids=["eventfd", "call_soon_threadsafe"])
def test_an_interrupt_just_before_the_ring_does_not_deafen_the_doorbell(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch, eventfd: bool
) -> None:
    """A Ctrl-C (or a signal handler's exception) landing after ``post`` set ``_rung`` but
    before it rang leaves no later call, from any thread, waiting forever."""
    if eventfd and not hasattr(os, "eventfd"):
        pytest.skip("eventfd is Linux's")
    if not eventfd:
        monkeypatch.setattr(handoff, "_eventfd", lambda: -1)
    client = client_of(videoagent_simulator)
    fired: list[int] = []

    def interrupt() -> None:
        if not fired:
            fired.append(1)
            raise KeyboardInterrupt  # (as a SIGINT handled between two bytecodes would)

    try:
        client.account.get()  # the engine runs
        if eventfd:
            real_write = os.eventfd_write

            def write(fd: int, value: int) -> None:
                interrupt()
                real_write(fd, value)

            monkeypatch.setattr(os, "eventfd_write", write)
        else:
            doorbell = _runner(client)._doorbell
            doorbell._loop = _LoopProxy(doorbell._loop, interrupt)
        with pytest.raises(KeyboardInterrupt):
            client.account.get()
        thread, outcome = _in_thread(lambda: client.account.get().plan)
        thread.join(5)
        hung = thread.is_alive()
    finally:
        monkeypatch.undo()
        client.close()  # (wakes the loop its own way: a hung caller is failed, not left)
    thread.join(10)
    assert not hung, "a call after the interrupted post never reached the loop"
    assert outcome == ["free"]


def test_a_post_racing_close_without_eventfd_raises_configuration_error(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an eventfd, a call whose ring reaches the loop only after it closed raises
    ``ConfigurationError``, not asyncio's ``RuntimeError``."""
    monkeypatch.setattr(handoff, "_eventfd", lambda: -1)
    client = client_of(videoagent_simulator)
    client.account.get()
    doorbell = _runner(client)._doorbell
    ringing, go = threading.Event(), threading.Event()

    def held() -> None:
        ringing.set()
        go.wait(10)  # (the posting thread is preempted here while the client closes)

    doorbell._loop = _LoopProxy(doorbell._loop, held)
    thread, outcome = _in_thread(client.account.get)
    try:
        assert ringing.wait(10)
        client.close()  # the loop ends, and is closed, before the ring
    finally:
        go.set()
    thread.join(10)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConfigurationError), repr(outcome[0])


def test_a_call_runs_in_a_copy_of_its_callers_context(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """The call's task runs in a copy of the calling thread's context (tracing and logging
    context go along, as ``asyncio.to_thread`` carries it the other way)."""
    key = videoagent_simulator.add_account(credits=50)  # every answer carries a warning
    seen: list[str] = []
    client = client_of(
        videoagent_simulator, key, on_credits_warning=lambda _: seen.append(_VAR.get())
    )

    def call() -> None:
        _VAR.set("caller")
        client.account.get()

    with client:
        thread, outcome = _in_thread(call)
        thread.join(10)
    assert outcome == [None]
    assert seen == ["caller"]


def test_without_eventfd_a_call_never_runs_in_another_threads_context(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an eventfd, two threads' calls answered by one ring each run in their own
    caller's context, not both in that of the thread that rang."""
    monkeypatch.setattr(handoff, "_eventfd", lambda: -1)
    key = videoagent_simulator.add_account(credits=50)
    seen: list[str] = []
    client = client_of(
        videoagent_simulator, key, on_credits_warning=lambda _: seen.append(_VAR.get())
    )
    with client:
        client.account.get()
        seen.clear()
        doorbell = _runner(client)._doorbell
        ringing, go = threading.Event(), threading.Event()

        def held() -> None:
            ringing.set()
            go.wait(10)

        doorbell._loop = _LoopProxy(doorbell._loop, held)

        def call(name: str) -> None:
            _VAR.set(name)
            client.account.get()

        first, first_outcome = _in_thread(lambda: call("first"))
        assert ringing.wait(10)  # the first thread rings (held); the second's call waits
        second, second_outcome = _in_thread(lambda: call("second"))
        while len(doorbell._inbox) < 2 and second.is_alive():
            second.join(0.01)
        go.set()
        first.join(10)
        second.join(10)
    assert first_outcome == [None]
    assert second_outcome == [None]
    assert sorted(seen) == ["first", "second"]


_FORKED_EVENTS = """
import json, os, sys, threading, warnings
from videoagent import ConfigurationError, VideoAgent

client = VideoAgent(sys.argv[1], sys.argv[2], time_scale=float(sys.argv[3]))
events = client.watcher.events()  # subscribed in the parent, not read yet
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    pid = os.fork()
if pid == 0:
    outcome = []
    def read():
        try:
            outcome.append(repr(next(events)))
        except ConfigurationError as exc:
            outcome.append("ConfigurationError: " + str(exc))
        except BaseException as exc:
            outcome.append(repr(exc))
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(5)
    print(json.dumps({"hung": thread.is_alive(), "outcome": outcome}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
client.close()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX's")
def test_events_subscribed_before_fork_refuse_in_the_child(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """``watcher.events()`` made in the parent and first read in a forked child raises
    ``ConfigurationError`` naming ``os.fork()`` there, instead of waiting forever for events
    from the parent's (abandoned) watcher."""
    done = run_script(_FORKED_EVENTS, videoagent_simulator)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert not report["hung"], "next(events) in the child waits forever"
    assert report["outcome"]
    assert "os.fork()" in report["outcome"][0]


def test_events_read_after_close_end_quietly(blocking_client: VideoAgent) -> None:
    """``watcher.events()`` "ends when the client closes": read after ``close()`` (a reader
    thread between two ``next()`` calls as another thread closes) it ends; it does not raise
    ``ConfigurationError``."""
    project = blocking_client.projects.create("a teaser")
    events = blocking_client.watcher.events(project.id)
    blocking_client.watcher.watch(project)
    assert blocking_client.projects.wait(project.id).status is ProjectStatus.IDLE
    blocking_client.close()
    seen = list(events)
    assert all(isinstance(e, StatusChanged) for e in seen)


def test_a_reader_blocked_in_events_ends_when_another_thread_closes(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """A thread blocked in ``next(events)`` ends its loop quietly (``StopIteration``) when
    another thread closes the client."""
    client = client_of(videoagent_simulator)
    events = client.watcher.events("prj_" + "x" * 16)  # a project nobody watches: no event
    thread, outcome = _in_thread(lambda: list(events))
    thread.join(0.2)
    assert thread.is_alive()
    client.close()
    thread.join(10)
    assert not thread.is_alive()
    assert outcome == [[]]


def test_a_call_whose_task_cannot_start_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call whose task cannot be made raises that error in its caller; the engine and
    the calls after it go on."""
    engine: Engine[contextlib.AsyncExitStack[bool | None]] = Engine(contextlib.AsyncExitStack)
    runner = engine._runner  # pyright: ignore[reportPrivateUsage]
    drive = runner._drive  # pyright: ignore[reportPrivateUsage]
    made = [0]

    def drive_but_the_first(call: Any) -> Any:
        made[0] += 1
        if made[0] == 1:
            raise RuntimeError("no task for this one")
        return drive(call)

    try:
        assert engine.call("first", _value, (1,), {}) == 1
        monkeypatch.setattr(runner, "_drive", drive_but_the_first)
        with pytest.raises(RuntimeError, match="no task for this one"):
            engine.call("second", _value, (2,), {})
        assert engine.call("third", _value, (3,), {}) == 3
        assert not engine.closed
    finally:
        engine.close()


async def _value(value: int) -> int:
    return value


def test_a_loop_has_one_doorbell_and_lets_it_close_after_the_loop() -> None:
    """A second doorbell on one loop is refused (the loop would be handed the first's fd
    with no callback); a doorbell closed after its loop closes quietly."""
    loop = handoff.EngineLoop(before_wait=lambda: None)
    doorbell = handoff.Doorbell(loop, lambda _: None)
    if doorbell._fd >= 0:  # pyright: ignore[reportPrivateUsage]  # (Linux: an eventfd)
        with pytest.raises(RuntimeError, match="already has a doorbell"):
            handoff.Doorbell(loop, lambda _: None)
    loop.close()
    doorbell.close()
    assert doorbell.post(handoff.Call(_nothing, (), {})) is False


class _Tracked:
    """An async iterator of 1, 2, 3... that notes the threads it was closed on."""

    def __init__(self) -> None:
        self.read = 0
        self.closed_on: list[str] = []

    def __aiter__(self) -> _Tracked:
        return self

    async def __anext__(self) -> int:
        self.read += 1
        return self.read

    async def aclose(self) -> None:
        self.closed_on.append(threading.current_thread().name)


@pytest.mark.parametrize("read", [0, 2], ids=["unread", "read"])
def test_closing_a_plain_iterator_closes_its_async_one_at_once(read: int) -> None:
    """``close()`` of a blocking iterator (``list``, ``messages``, ``watcher.events()``)
    closes its async iterator on the engine there and then, read or not (Python 3.12's
    ``close()`` of an unread generator ran nothing: a watcher's subscription stayed until
    the iterator was dropped); a second ``close()`` does nothing; the iteration has ended."""
    engine: Engine[contextlib.AsyncExitStack[bool | None]] = Engine(contextlib.AsyncExitStack)
    try:
        tracked = _Tracked()
        items = _Pulled(engine, "test", tracked)
        assert [next(items) for _ in range(read)] == list(range(1, read + 1))
        items.close()
        assert tracked.closed_on == ["videoagent-engine"]
        items.close()
        assert tracked.closed_on == ["videoagent-engine"]
        with pytest.raises(StopIteration):
            next(items)
        late = _Tracked()
        left = _Pulled(engine, "test", late)
    finally:
        engine.close()
    left.close()  # (the engine closed: nothing to close it on, and no error)
    assert late.closed_on == []


def test_every_caller_is_answered_while_the_client_closes(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """Threads calling in a loop while another closes the client each end within seconds,
    every call answered or refused with ``ConfigurationError``: no post racing ``close()``,
    and no call finished after the loop's last poll, leaves its caller asleep."""
    client = client_of(videoagent_simulator)
    client.watcher.statistics()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts: list[int] = []

    def spin() -> None:
        done = 0
        try:
            while not stop.is_set():
                client.watcher.statistics()
                done += 1
        except ConfigurationError:
            pass
        except BaseException as exc:
            errors.append(exc)
        counts.append(done)

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.2)
    client.close()
    for thread in threads:
        thread.join(10)
    stop.set()
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(counts) == 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and eventfd: Linux")
def test_the_doorbells_eventfd_is_closed_once_collected_not_before() -> None:
    """The eventfd outlives ``close()`` (a late poster may still ring it, harmlessly) and is
    closed when the doorbell is collected."""
    loop = handoff.EngineLoop(before_wait=lambda: None)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        made: list[handoff.Doorbell] = []
        done = threading.Event()

        def make() -> None:
            made.append(handoff.Doorbell(loop, lambda _: None))
            done.set()

        loop.call_soon_threadsafe(make)
        assert done.wait(10)
        fd = made[0]._fd  # pyright: ignore[reportPrivateUsage]
        done.clear()
        loop.call_soon_threadsafe(lambda: (made[0].close(), done.set()))
        assert done.wait(10)
        assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
        assert made[0].post(handoff.Call(_nothing, (), {})) is False
        made.clear()
        gc.collect()
        assert not os.path.exists(f"/proc/self/fd/{fd}") or (
            os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:[eventfd]"
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _nothing() -> None:
    return None


_FAILED_ENTER = """
import os, threading
from videoagent._engine import Engine

class Failing:
    async def __aenter__(self):
        raise OSError("cannot enter")
    async def __aexit__(self, *exc):
        return None

engine = Engine(Failing)
outcome = []
def start():
    try:
        engine.start("a call")
    except BaseException as exc:
        outcome.append(repr(exc))
caller = threading.Thread(target=start, daemon=True)
caller.start()
caller.join(5)
engines = [t for t in threading.enumerate() if t.name == "videoagent-engine"]
for t in engines:
    t.join(5)
print(outcome, not caller.is_alive(), any(t.is_alive() for t in engines), flush=True)
os._exit(0)  # (deadlocked, the interpreter's exit would wait forever on the runner's lock)
"""


def test_a_resource_that_fails_to_enter_raises_in_the_first_call() -> None:
    """When the async client fails to enter, the first call raises that error and the
    engine's thread ends (no worker to join: not every thread without a loop, the caller
    included, while it joins the engine)."""
    done = subprocess.run(
        [sys.executable, "-c", _FAILED_ENTER],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[\"OSError('cannot enter')\"] True False"]


_NO_EVENTFD_LEFT = """
import errno, json, os, sys, threading
from videoagent import VideoAgent

def refuse(*args, **kwargs):
    raise OSError(errno.EMFILE, "Too many open files")

os.eventfd = refuse  # (a process at its fd limit, or a sandbox that forbids eventfd2)
client = VideoAgent(sys.argv[1], sys.argv[2], time_scale=float(sys.argv[3]))
outcome = []
def call():
    try:
        outcome.append(client.account.get().plan)
    except BaseException as exc:
        outcome.append(repr(exc))
caller = threading.Thread(target=call, daemon=True)
caller.start()
caller.join(10)
print(json.dumps({"hung": caller.is_alive(), "outcome": outcome}), flush=True)
os._exit(0)  # (deadlocked, the interpreter's exit would wait forever on the runner's lock)
"""


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="eventfd is Linux's")
def test_a_refused_eventfd_falls_back_to_call_soon_threadsafe(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """Where ``os.eventfd`` exists but fails (``EMFILE``, a seccomp sandbox), the client
    works through the other wake-up instead of deadlocking its first call."""
    done = run_script(_NO_EVENTFD_LEFT, videoagent_simulator)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert not report["hung"], "the first call deadlocked"
    assert report["outcome"] == ["free"]
