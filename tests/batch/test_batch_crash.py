"""Crash safety as a user meets it: ``videoagent batch`` killed (SIGKILL) or interrupted
(SIGINT) in a real subprocess, then run again, against a simulator that outlives it."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_helpers import FAST, SCALE, sha256_of

from videoagent.batch import JOURNAL_NAME
from videoagent.simulator import BackgroundSimulator

BRIEFS = 12


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    """A fast simulator in a background thread: it outlives every killed batch process."""
    with BackgroundSimulator(time_scale=SCALE, seed=5, durations=FAST) as sim:
        yield sim


def write_briefs(folder: Path) -> Path:
    """A JSONL batch: mostly autonomous, every third collaborative, one re-render."""
    lines = []
    for i in range(BRIEFS):
        record: dict[str, str] = {"brief": f"crash-test video number {i}"}
        if i % 3 == 2:
            record["mode"] = "collaborative"
        if i == 4:
            record["render"] = "1080p"
        lines.append(json.dumps(record))
    path = folder / "briefs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def command(briefs: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "videoagent.cli", "batch", str(briefs), "--out", str(out), *extra]


def environment(sim: BackgroundSimulator) -> dict[str, str]:
    return {
        **os.environ,
        "VIDEOAGENT_API_KEY": sim.api_key,
        "VIDEOAGENT_BASE_URL": sim.base_url,
        "VIDEOAGENT_TIME_SCALE": str(SCALE),
        "PYTHONUNBUFFERED": "1",
    }


def run_until_lines(cmd: list[str], env: dict[str, str], lines: int, signum: int) -> int:
    """Start ``cmd``, send ``signum`` after it printed ``lines`` progress lines; its status."""
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        for seen, _ in enumerate(process.stderr, start=1):
            if seen == lines:
                process.send_signal(signum)
                break
        process.stderr.read()
        return process.wait(timeout=60)


def finish(cmd: list[str], env: dict[str, str]) -> dict[str, object]:
    """Run ``cmd --json`` to the end; its summary (status 0 asserted)."""
    done = subprocess.run(
        [*cmd, "--json"], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def assert_each_brief_done_once(sim: BackgroundSimulator, out: Path, summary: dict) -> None:  # type: ignore[type-arg]
    """One project per brief on the server, one verified file per brief, journal all done."""
    projects = sim.projects()
    assert sorted(p.brief for p in projects) == sorted(
        f"crash-test video number {i}" for i in range(BRIEFS)
    )
    assert len({p.idempotency_key for p in projects}) == BRIEFS
    assert summary["counts"] == {"done": BRIEFS, "failed": 0, "pending": 0, "skipped": 0}
    for outcome in summary["done"]:
        assert sha256_of(outcome["path"]) == outcome["sha256"]
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    with sqlite3.connect(out / JOURNAL_NAME) as db:
        states = db.execute("SELECT state, COUNT(*) FROM briefs GROUP BY state").fetchall()
    assert states == [("done", BRIEFS)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_random_points_then_resume(
    simulator: BackgroundSimulator, tmp_path: Path, seed: int
) -> None:
    """Killed by SIGKILL twice at random points, then run again: each brief done exactly once."""
    rng = random.Random(seed)
    briefs, out = write_briefs(tmp_path), tmp_path / "videos"
    cmd, env = command(briefs, out), environment(simulator)
    statuses = [run_until_lines(cmd, env, rng.randint(3, 60), signal.SIGKILL) for _ in range(2)]
    assert statuses[0] == -signal.SIGKILL
    assert statuses[1] in (-signal.SIGKILL, 0)  # the second run may finish first
    summary = finish(cmd, env)
    assert_each_brief_done_once(simulator, out, summary)


def test_ctrl_c_stops_gracefully_and_resumes(
    simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """One SIGINT: exit 130, no partial files, a resume hint; the re-run finishes the batch."""
    briefs, out = write_briefs(tmp_path), tmp_path / "videos"
    cmd, env = command(briefs, out), environment(simulator)
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        for line in process.stderr:
            if " done: " in line:  # the first video is in: interrupt now
                process.send_signal(signal.SIGINT)
                break
        rest = process.stderr.read()
        stdout = process.stdout.read()
        assert process.wait(timeout=60) == 130
    assert "Stopping: finishing downloads in progress" in rest
    assert "Resume with:" in stdout
    assert f"videoagent batch {briefs} --out {out}" in stdout
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    with sqlite3.connect(out / JOURNAL_NAME) as db:
        rows = db.execute("SELECT state, path, sha256 FROM briefs").fetchall()
    finished = [(path, digest) for state, path, digest in rows if state == "done"]
    assert 1 <= len(finished) < BRIEFS
    assert all(sha256_of(path) == digest for path, digest in finished)
    summary = finish(cmd, env)
    assert_each_brief_done_once(simulator, out, summary)
    resumed = [o["path"] for o in summary["done"] if o["resumed"]]
    assert sorted(resumed) == sorted(path for path, _ in finished)


def test_second_ctrl_c_quits_at_once(simulator: BackgroundSimulator, tmp_path: Path) -> None:
    """A second SIGINT exits 130 at once; the journal stays readable and the batch resumes."""
    briefs, out = write_briefs(tmp_path), tmp_path / "videos"
    cmd, env = command(briefs, out), environment(simulator)
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Stopping"):
                process.send_signal(signal.SIGINT)
                break
            if " queued" in line:
                process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=30) == 130
    assert "Quit. Resume with:" in rest
    summary = finish(cmd, env)
    assert_each_brief_done_once(simulator, out, summary)
