"""Helpers of the Celery tests (and the Celery benchmark): real workers, the submitter's command.

``CeleryWorkers`` starts ``celery -A videoagent.integrations.celery worker``
processes, each in its own session (a ``kill -9`` of a worker takes its
prefork children with it, as a lost machine would), pointed at a Redis and
a simulator through the environment, as a deployment would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
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
    """``count`` real Celery workers (prefork, ``concurrency`` children each)."""

    def __init__(
        self, env: dict[str, str], logs: Path, *, count: int = 3, concurrency: int = 2
    ) -> None:
        self._env = env
        self._logs = logs
        self._count = count
        self._concurrency = concurrency
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> CeleryWorkers:
        self._logs.mkdir(parents=True, exist_ok=True)
        for index in range(self._count):
            with (self._logs / f"worker-{index}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [
                            sys.executable, "-m", "celery",
                            "-A", "videoagent.integrations.celery", "worker",
                            "--pool", "prefork", "--concurrency", str(self._concurrency),
                            "--hostname", f"worker{index}@%h", "--loglevel", "WARNING",
                            "--without-gossip", "--without-mingle",
                        ],
                        env=self._env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )  # fmt: skip
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once every live worker answers a ping."""
        app = Celery(broker=self._env["VIDEOAGENT_REDIS_URL"], set_as_current=False)
        alive = sum(1 for p in self.processes if p.poll() is None)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if len(app.control.ping(timeout=0.5) or []) >= alive:
                    return
            raise RuntimeError(f"the Celery workers did not answer; see {self._logs}")
        finally:
            app.close()

    def kill(self, index: int) -> None:
        """``kill -9`` worker ``index`` and its prefork children, as a lost machine."""
        process = self.processes[index]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        """Stop every worker (a warm shutdown, then ``kill -9`` for the slow)."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def log(self) -> str:
        """Every worker's log, for a failing test's message."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self._logs.glob("*.log")))


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
