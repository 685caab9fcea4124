"""A batch on 3 real Celery workers: a worker killed mid-batch loses nothing, duplicates nothing."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_helpers import FAST, SCALE, CeleryWorkers, celery_workers, environment, submit
from common_helpers import ACTIVE_LIMIT, REQUEST_LIMIT, max_in_window
from redis_helpers import RedisServer

from videoagent import VideoAgent
from videoagent.simulator import BackgroundSimulator

BRIEFS = 30
#: Real seconds the whole batch may take (it takes about 20 on 2 cores).
DEADLINE = 90


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    """The API, served from a thread of the test process on loopback: fast phases, seeded."""
    with BackgroundSimulator(time_scale=SCALE, seed=11, durations=FAST) as sim:
        yield sim


def _briefs(folder: Path) -> Path:
    """30 briefs: autonomous ones, collaborative ones (decision points) and re-renders."""
    records = []
    for n in range(BRIEFS):
        record: dict[str, Any] = {"brief": f"a 10 s teaser, take {n}"}
        if n % 5 == 1:
            record["mode"] = "collaborative"
        if n % 7 == 3:
            record["render"] = "1080p"
        records.append(json.dumps(record))
    path = folder / "briefs.jsonl"
    path.write_text("\n".join(records) + "\n")
    return path


def _finished(process: Any, workers: CeleryWorkers) -> dict[str, Any]:
    """The submitter's JSON summary, once it exited 0 with no traceback."""
    try:
        stdout, stderr = process.communicate(timeout=DEADLINE)
    except Exception:
        process.kill()
        raise
    assert "Traceback" not in stderr, stderr + workers.log()
    assert process.returncode == 0, stderr + workers.log()
    summary: dict[str, Any] = json.loads(stdout)
    return summary


def _check_account(sim: BackgroundSimulator) -> None:
    """One project per brief, each done; no limit broken, no 429."""
    projects = sim.projects()
    assert len(projects) == BRIEFS
    assert len({p.brief for p in projects}) == BRIEFS  # no brief made twice
    assert all(p.status == "idle" and p.has_result for p in projects)
    counted = [r.at for r in sim.request_log if r.counted]
    assert max_in_window(counted, 60.0 * SCALE) <= REQUEST_LIMIT
    stats = sim.stats()
    assert stats.max_window_requests <= REQUEST_LIMIT
    assert stats.max_active_projects <= ACTIVE_LIMIT
    assert (stats.rate_limited, stats.project_limit) == (0, 0)
    assert not [r for r in sim.request_log if r.status == 429]


def _check_videos(sim: BackgroundSimulator, out: Path, summary: dict[str, Any]) -> None:
    """Every video is in ``out``, and its bytes hash to what the API's result says."""
    done = summary["done"]
    assert sorted(o["index"] for o in done) == list(range(BRIEFS))
    with VideoAgent(sim.api_key, sim.base_url, time_scale=SCALE) as client:
        for outcome in done:
            path = Path(outcome["path"])
            assert path.parent == out
            result = client.projects.result(outcome["project_id"])
            assert hashlib.sha256(path.read_bytes()).hexdigest() == result.sha256
            assert outcome["sha256"] == result.sha256


def test_a_worker_killed_mid_batch_loses_nothing_and_a_rerun_makes_nothing(
    redis_server: RedisServer, simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """30 briefs on 3 workers, one SIGKILLed mid-batch: each done once; the same command again
    creates and downloads nothing."""
    sim = simulator
    env = environment(api_key=sim.api_key, base_url=sim.base_url, redis_url=redis_server.url)
    briefs, out = _briefs(tmp_path), tmp_path / "videos"
    command = [str(briefs), "--out", str(out), "--json"]
    with celery_workers(env, tmp_path / "logs") as workers:
        process = submit(command, env)
        deadline = time.monotonic() + DEADLINE
        while len(list(out.glob("*.mp4"))) < 8:  # mid-batch: a third of the videos are in
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, workers.log()
            time.sleep(0.05)
        workers.kill(0)
        summary = _finished(process, workers)
        assert summary["counts"] == {"done": BRIEFS, "failed": 0, "pending": 0, "skipped": 0}
        _check_account(sim)
        downloads, requests = len(sim.download_log), len(sim.request_log)
        again = _finished(submit(command, env), workers)
    assert again["batch_id"] == summary["batch_id"]
    assert again["counts"]["done"] == BRIEFS
    assert all(o["resumed"] for o in again["done"])
    assert len(sim.projects()) == BRIEFS  # nothing created twice
    assert len(sim.download_log) == downloads  # nothing downloaded twice
    assert len(sim.request_log) - requests <= 2  # the account, before and after
    _check_videos(sim, out, summary)
