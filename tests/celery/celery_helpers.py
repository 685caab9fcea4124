"""Helpers of the Celery tests (and the Celery benchmark): real workers, the submitter's command.

``celery_workers`` starts ``celery -A videoagent.integrations.celery worker``
processes, each in its own session (a ``kill -9`` of a worker takes its
prefork children with it, as a lost machine would), pointed at a Redis and
a simulator through the environment, as a deployment would be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from celery import Celery

#: Short phases (contract seconds): a project ends within about a second at SCALE.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}
SCALE = 0.01
#: Real seconds: a killed worker's messages come back after this; its slots after 2 leases.
VISIBILITY_TIMEOUT = 4.0
LEASE = 1.0


#: The installed console script.
VIDEOAGENT = str(Path(sys.executable).with_name("videoagent"))


def environment(
    *, api_key: str, base_url: str, redis_url: str, scale: float = SCALE
) -> dict[str, str]:
    """The environment of every worker and of the submitter."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VIDEOAGENT_")},
        "VIDEOAGENT_API_KEY": api_key,
        "VIDEOAGENT_BASE_URL": base_url,
        "VIDEOAGENT_TIME_SCALE": repr(scale),
        "VIDEOAGENT_REDIS_URL": redis_url,
        "VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT": repr(VISIBILITY_TIMEOUT),
        "VIDEOAGENT_CELERY_LEASE": repr(LEASE),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


class CeleryWorkers:
    """Real Celery workers (prefork); made by ``celery_workers``."""

    def __init__(self, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
        self.processes = processes
        self._logs = logs

    def kill(self, index: int) -> None:
        """``kill -9`` worker ``index`` and its prefork children, as a lost machine."""
        process = self.processes[index]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def log(self) -> str:
        """Every worker's log, for a failing test's message."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self._logs.glob("*.log")))


@contextlib.contextmanager
def celery_workers(
    env: dict[str, str], logs: Path, *, count: int = 3, concurrency: int = 2
) -> Iterator[CeleryWorkers]:
    """``count`` real workers, each answering a ping before this yields; stopped after
    (a warm shutdown, then ``kill -9`` for the slow)."""
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(count):
            with (logs / f"worker-{index}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable, "-m", "celery",
                            "-A", "videoagent.integrations.celery", "worker",
                            "--pool", "prefork", "--concurrency", str(concurrency),
                            "--hostname", f"worker{index}@%h", "--loglevel", "WARNING",
                            "--without-gossip", "--without-mingle",
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
        _wait_ready(env["VIDEOAGENT_REDIS_URL"], count, logs)
        yield CeleryWorkers(processes, logs)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _wait_ready(broker: str, count: int, logs: Path, timeout: float = 60.0) -> None:
    """Return once ``count`` workers answer a ping."""
    app = Celery(broker=broker, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=0.5) or []) >= count:
                return
        raise RuntimeError(f"the Celery workers did not answer; see {logs}")
    finally:
        app.close()


def submit(args: list[str], env: dict[str, str], **options: Any) -> subprocess.Popen[str]:
    """Start ``videoagent batch ... --engine celery`` (the submitter) as a subprocess."""
    return subprocess.Popen(
        [VIDEOAGENT, "batch", *args, "--engine", "celery"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )
