"""``videoagent batch --engine celery``: refusals before anything is sent, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_helpers import (
    FAST,
    SCALE,
    VIDEOAGENT,
    celery_workers,
    environment,
    submit,
)
from redis_helpers import RedisServer, free_port

from videoagent.simulator import BackgroundSimulator


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    """The API on loopback, fast phases."""
    with BackgroundSimulator(time_scale=SCALE, seed=5, durations=FAST) as sim:
        yield sim


def _briefs(folder: Path, count: int) -> Path:
    path = folder / "briefs.txt"
    path.write_text("".join(f"a 10 s teaser, take {n}\n" for n in range(count)))
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIDEOAGENT, "batch", *args, "--engine", "celery"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("--simulate", None), ("--journal", "j.sqlite"), ("--webhook-listen", ":0")],
)
def test_options_of_a_local_run_are_refused_in_one_line(
    simulator: BackgroundSimulator, tmp_path: Path, option: str, value: str | None
) -> None:
    """An option only a local run has is a usage error naming it; nothing is sent."""
    env = environment(api_key=simulator.api_key, base_url=simulator.base_url, redis_url="x")
    args = [str(_briefs(tmp_path, 1)), "--out", str(tmp_path / "out"), option]
    result = _run(args + ([] if value is None else [value]), env)
    assert result.returncode == 2
    assert option in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert simulator.request_log == []


def test_no_redis_url_or_no_redis_is_a_usage_error(
    simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """Without VIDEOAGENT_REDIS_URL, or with no Redis there, the command says so; nothing sent."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = environment(api_key=simulator.api_key, base_url=simulator.base_url, redis_url=url)
    args = [str(_briefs(tmp_path, 1)), "--out", str(tmp_path / "out")]
    unreachable = _run(args, env)
    assert unreachable.returncode == 2
    assert "cannot reach Redis at" in unreachable.stderr
    del env["VIDEOAGENT_REDIS_URL"]
    unset = _run(args, env)
    assert unset.returncode == 2
    assert "VIDEOAGENT_REDIS_URL" in unset.stderr
    for result in (unreachable, unset):
        assert "Traceback" not in result.stderr
    assert simulator.request_log == []


def test_ctrl_c_stops_new_projects_and_the_same_command_resumes(
    redis_server: RedisServer, simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """Ctrl-C: exit 130, unfinished briefs pending, no new project; run again: all done once."""
    env = environment(
        api_key=simulator.api_key, base_url=simulator.base_url, redis_url=redis_server.url
    )
    out = tmp_path / "videos"
    command = [str(_briefs(tmp_path, 12)), "--out", str(out), "--json"]
    with celery_workers(env, tmp_path / "logs", count=2) as workers:
        process = submit(command, env)
        deadline = time.monotonic() + 60
        while not list(out.glob("*.mp4")):
            assert time.monotonic() < deadline, workers.log()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr
        stopped = json.loads(stdout)
        assert stopped["interrupted"] is True
        assert stopped["counts"]["pending"] > 0
        made = len(simulator.projects())
        assert made < 12  # the waiting briefs were not started
        again = submit(command, env)
        stdout, stderr = again.communicate(timeout=90)
        assert again.returncode == 0, stderr + workers.log()
    summary = json.loads(stdout)
    assert summary["counts"]["done"] == 12
    projects = simulator.projects()
    assert len(projects) == len({p.brief for p in projects}) == 12
    assert simulator.stats().project_limit == 0
