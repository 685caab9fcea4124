"""Helpers of the fleet tests (and the fleet benchmark): a redis-server process, worker runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import pytest
from common_helpers import ACTIVE_LIMIT, REQUEST_LIMIT, max_in_window

from videoagent.simulator import Simulator

REQUIRE_ENV = "VIDEOAGENT_REQUIRE_SYSTEM"


def find_redis_server() -> str:
    """The ``redis-server`` program; skips the test without it (fails when required)."""
    program = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if program is None:
        message = "redis-server is not installed (.ci/install-system.sh installs it)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    return program


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` without persistence on a loopback port; ``restart()`` loses its data."""

    def __init__(self, program: str, port: int | None = None) -> None:
        self.program = program
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers."""
        self.process = subprocess.Popen(
            [
                self.program,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--protected-mode", "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop it (its data is gone: no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port: an empty Redis."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- worker processes ---------------------------------------------------------------------

#: Short phases (contract seconds) so a 4-worker batch ends in seconds at SCALE.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}
SCALE = 0.01
LEASE = 1.0


def write_briefs(folder: Path, count: int) -> Path:
    """A briefs file of ``count`` distinct one-line briefs."""
    path = folder / "briefs.txt"
    path.write_text("".join(f"a 10 s teaser, take {i}\n" for i in range(count)))
    return path


async def start_worker(
    index: int, briefs: Path, out: Path, *, redis_url: str, sim: Simulator
) -> anyio.abc.Process:
    """One ``python -m videoagent.fleet`` worker of batch ``fleet-test``."""
    env = {
        **os.environ,
        "VIDEOAGENT_API_KEY": sim.api_key,
        "VIDEOAGENT_BASE_URL": sim.base_url,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("VIDEOAGENT_REDIS_URL", None)
    command = [
        sys.executable, "-m", "videoagent.fleet", str(briefs),
        "--out", str(out), "--batch-id", "fleet-test", "--redis-url", redis_url,
        "--lease", str(LEASE), "--time-scale", str(SCALE), "--timeout", "200",
        "--journal", str(out.parent / f"journal-{index}.sqlite"),
    ]  # fmt: skip
    return await anyio.open_process(command, env=env, stdout=subprocess.PIPE, stderr=None)


async def summary_of(process: anyio.abc.Process) -> dict[str, Any]:
    """The worker's JSON summary line (after it exits)."""
    assert process.stdout is not None
    data = b""
    async for chunk in process.stdout:
        data += chunk
    await process.wait()
    lines = data.decode().strip().splitlines()
    assert lines, f"worker exited {process.returncode} without a summary"
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def check_account(sim: Simulator, briefs: int) -> None:
    """The account's limits held, no 429, and exactly one project per brief."""
    counted = [r.at for r in sim.request_log if r.counted]
    assert max_in_window(counted, 60.0 * sim.time_scale) <= REQUEST_LIMIT
    stats = sim.stats()
    assert stats.max_window_requests <= REQUEST_LIMIT
    assert stats.max_active_projects <= ACTIVE_LIMIT
    assert (stats.rate_limited, stats.project_limit) == (0, 0)
    assert not [r for r in sim.request_log if r.status == 429]
    projects = sim.projects()
    assert len(projects) == briefs
    assert len({p.brief for p in projects}) == briefs
    assert all(p.status == "idle" and p.has_result for p in projects)


def check_files(out: Path, summaries: list[dict[str, Any]], briefs: int) -> None:
    """Every brief done once across the workers, each file there with its sha256."""
    done = [o for s in summaries for o in s["done"]]
    indexes = sorted(o["index"] for o in done)
    assert indexes == list(range(briefs)), indexes
    for outcome in done:
        path = Path(outcome["path"])
        assert path.parent == out
        assert hashlib.sha256(path.read_bytes()).hexdigest() == outcome["sha256"]
