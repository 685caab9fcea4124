"""Where blocking code lives: event loops, callbacks, Ctrl-C, forgotten clients, fork()."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import warnings

import pytest
from blocking_helpers import client_of, run_script

from videoagent import (
    ConfigurationError,
    CreditsWarning,
    PollPolicy,
    ProjectStatus,
    VideoAgent,
)
from videoagent.simulator import BackgroundSimulator

#: The shortest time between two polls of a project (a queued one's), in real seconds at
#: time scale 1: a Ctrl-C heard only when the wait next polls would take at least this.
QUEUED_POLL_SECONDS = PollPolicy().queued


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "videoagent-engine"]


async def test_a_call_inside_a_running_event_loop_fails_at_once(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """In async code every blocking call (and ``with``) raises ``ConfigurationError`` naming
    ``AsyncVideoAgent`` at once, and sends nothing."""
    client = client_of(videoagent_simulator)
    with pytest.raises(ConfigurationError, match="use AsyncVideoAgent and await it"):
        client.projects.get("prj_" + "x" * 16)
    with pytest.raises(ConfigurationError, match=r"VideoAgent\.projects\.list"):
        next(client.projects.list())
    with pytest.raises(ConfigurationError, match="AsyncVideoAgent"), client:
        pass
    with pytest.raises(ConfigurationError, match="AsyncVideoAgent"):
        client.statistics()
    assert videoagent_simulator.request_log == []
    assert _engine_threads() == []
    client.close()


def test_a_call_in_a_jupyter_kernels_loop_goes_through(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a Jupyter kernel's main thread (whose loop runs the cells) blocking calls work."""
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))

    async def cell() -> str:
        with client_of(videoagent_simulator) as client:
            return client.account.get().plan

    assert asyncio.run(cell()) == "free"


def test_a_call_from_the_engines_own_thread_fails_at_once(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """``on_credits_warning`` runs on the engine's thread: a blocking call there fails at once
    (it would wait for itself forever), and the call that carried the warning goes on."""
    key = videoagent_simulator.add_account(credits=50)  # under the warning threshold
    refused: list[BaseException] = []

    def on_credits_warning(warning: CreditsWarning) -> None:
        try:
            client.account.get()
        except ConfigurationError as exc:
            refused.append(exc)

    client = client_of(videoagent_simulator, key, on_credits_warning=on_credits_warning)
    with client:
        assert client.account.get().credits == 50
    assert refused
    assert "own event loop thread" in str(refused[0])


CTRL_C = """
import sys, threading
from videoagent import VideoAgent

with VideoAgent(sys.argv[1], sys.argv[2], time_scale=float(sys.argv[3])) as client:
    project = client.projects.create("a teaser")
    try:
        client.projects.wait(project.id, on_update=lambda p: print("waiting", flush=True))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    print("active", client.projects.get(project.id).status.is_active, flush=True)
print("threads", threading.active_count(), flush=True)
"""


# The project lasts a minute (never waited out); the client polls in real time (1.0):
# 5 s or more between polls, its first one included.
@pytest.mark.videoagent_simulator(time_scale=0.1)
def test_ctrl_c_stops_a_wait_in_the_main_thread(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """SIGINT during ``wait`` raises ``KeyboardInterrupt`` in the main thread at once, not at
    the wait's next poll (5 s away or more); the client goes on working and closes, leaving
    one thread."""
    sim = videoagent_simulator
    process = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", CTRL_C, sim.api_key, sim.base_url, "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "waiting\n"  # the main thread is inside wait()
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    interrupted = process.stdout.readline()
    took = time.monotonic() - sent
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert [interrupted.strip(), *out.splitlines()] == ["interrupted", "active True", "threads 1"]
    assert took < QUEUED_POLL_SECONDS, f"the wait noticed Ctrl-C after {took:.1f} s"
    assert "Traceback" not in err


FORGOTTEN = """
import sys
from videoagent import VideoAgent

client = VideoAgent(sys.argv[1], sys.argv[2], time_scale=float(sys.argv[3]))
print(client.account.get().plan, flush=True)
# never closed: the interpreter exits anyway, and closes it on the way
"""


def test_a_forgotten_client_does_not_keep_the_interpreter_alive(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """A client never closed lets the interpreter exit, closed on the way (no warning)."""
    done = run_script(FORGOTTEN, videoagent_simulator)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "free\n"
    assert done.stderr == ""


def test_a_collected_client_ends_its_thread(videoagent_simulator: BackgroundSimulator) -> None:
    """When the last reference to a client goes, its engine closes and its thread ends."""
    client = client_of(videoagent_simulator)
    copy = client.with_options(timeout=1000.0)
    projects = copy.projects
    del client, copy
    assert projects.get(projects.create("a teaser").id).status is ProjectStatus.QUEUED
    assert len(_engine_threads()) == 1
    del projects
    gc.collect()
    assert _engine_threads() == []


def _in_child(used: VideoAgent, unused: VideoAgent, listing: object) -> dict[str, object]:
    """In the forked child: use both clients and the parent's listing, then report.

    Warnings are recorded: a ResourceWarning of the parent's session or sockets,
    had they been freed here, would show.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report: dict[str, object] = {}
        project = used.projects.create("made in the child")
        report["waited"] = used.projects.wait(project.id).status.value
        report["unused"] = unused.account.get().plan
        try:
            next(listing)  # type: ignore[call-overload]
        except ConfigurationError as exc:
            report["listing"] = str(exc)
        used.close()
        unused.close()
        gc.collect()
    report["warnings"] = [str(w.message) for w in caught]
    report["threads"] = threading.active_count()
    return report


def test_a_forked_child_starts_its_own_engine(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """After ``os.fork()`` the child's calls run on an engine of its own (the parent's loop,
    sockets and session untouched, no warning), and the parent's client goes on unharmed."""
    used = client_of(videoagent_simulator)
    unused = client_of(videoagent_simulator)  # made before the fork, first used in the child
    parent_project = used.projects.create("made in the parent")
    listing = used.projects.list(limit=1)
    next(listing)
    read, write = os.pipe()
    with warnings.catch_warnings():  # (Python 3.12+ warns of fork() with threads running)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read)
            with os.fdopen(write, "w") as pipe:
                json.dump(_in_child(used, unused, listing), pipe)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = json.load(pipe)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["waited"] == "idle"
    assert report["unused"] == "free"
    assert "os.fork()" in str(report["listing"])
    assert report["warnings"] == []
    assert report["threads"] == 1  # its engines closed (no thread of the parent is copied)
    assert used.projects.wait(parent_project.id).status is ProjectStatus.IDLE
    assert used.statistics().retries == 0  # the parent's connections were not disturbed
    used.close()
    unused.close()


FORKED_EXIT = """
import os, sys
from videoagent import VideoAgent

client = VideoAgent(sys.argv[1], sys.argv[2], time_scale=float(sys.argv[3]), max_retries=0)
for _ in range(3):
    client.account.get()  # keep-alive connections in the parent's pool
pid = os.fork()
if pid == 0:
    print("child", client.account.get().plan, flush=True)
    sys.exit(0)  # a normal exit: the interpreter tears down and frees what it holds
os.waitpid(pid, 0)
for _ in range(6):
    client.account.get()  # max_retries=0: a connection the child broke would raise
print("parent", client.statistics().retries, flush=True)
client.close()
"""


def test_a_child_that_exits_normally_leaves_the_parents_connections_alone(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """A forked child's normal exit frees nothing of its parent's engine: no warning, and the
    parent's pooled connections (in the epoll set both share) still work."""
    done = run_script(FORKED_EXIT, videoagent_simulator)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["child free", "parent 0"]
    assert done.stderr == ""
