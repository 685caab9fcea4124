"""Ctrl-C in `demo` and `batch --simulate`: what is said is true, and running again works."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from cli_helpers import VIDEOAGENT, clean_env, videoagent
from test_cli_demo import DEMO_FILES

from videoagent.batch import JOURNAL_NAME


def interrupted(argv: list[str], *, twice: bool = False) -> tuple[int, str, str]:
    """Run the command, Ctrl-C it once a project is queued (``twice``: again at once)."""
    with subprocess.Popen(
        [VIDEOAGENT, *argv],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if " queued" in line:
                process.send_signal(signal.SIGINT)
                if not twice:
                    break
            if twice and line.startswith("Stopping"):
                process.send_signal(signal.SIGINT)
                break
        err = "".join(seen) + process.stderr.read()
        out = process.stdout.read()
        status = process.wait(timeout=60)
    return status, out, err


def assert_honest(text: str, again: str) -> None:
    """No claim that projects run on, no resume line that cannot work, the way to run again."""
    assert "keep running on the service" not in text
    assert "leaving projects running" not in text
    assert "Resume with" not in text
    assert "None" not in text
    assert "The embedded simulator ended" in text
    assert again in text
    assert "Traceback" not in text


def test_demo_ctrl_c_then_again_into_the_same_folder(tmp_path: Path) -> None:
    """A demo stopped by Ctrl-C says its simulator ended and how to run again; that run succeeds."""
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--time-scale", "0.01"]
    status, stdout, stderr = interrupted(argv)
    assert status == 130
    assert_honest(stdout + stderr, f"Run again with:\n  videoagent demo --out {out}")
    again = videoagent("demo", "--out", str(out), "--time-scale", "0.002", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["counts"] == {"done": 8, "failed": 0, "pending": 0, "skipped": 0}
    assert {p.name for p in out.glob("*.mp4")} == DEMO_FILES
    assert not (out / JOURNAL_NAME).exists()  # nothing to resume: the simulator is gone


def test_demo_second_ctrl_c_says_how_to_run_again(tmp_path: Path) -> None:
    """A second Ctrl-C quits at once with one honest line: the demo's folder, no resume."""
    out = tmp_path / "demo"
    status, stdout, stderr = interrupted(
        ["demo", "--out", str(out), "--time-scale", "0.01"], twice=True
    )
    assert status == 130
    assert_honest(stdout + stderr, f"run again with: videoagent demo --out {out}")
    again = videoagent("demo", "--out", str(out), "--time-scale", "0.002", "-q")
    assert again.returncode == 0, again.stderr
    assert "8 done, 0 failed" in again.stdout


def test_batch_simulate_ctrl_c_then_the_same_command(tmp_path: Path) -> None:
    """`batch --simulate` stopped by Ctrl-C says how to run again, and that command succeeds."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("".join(f"simulated teaser {i}\n" for i in range(4)), encoding="utf-8")
    argv = ["batch", str(briefs), "--out", str(tmp_path / "v"), "--simulate", "--time-scale"]
    status, stdout, stderr = interrupted([*argv, "0.01"])
    assert status == 130
    assert_honest(stdout + stderr, f"Run again with:\n  videoagent {' '.join(argv)} 0.01")
    again = videoagent(*argv, "0.002", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["done"] == 4


def test_simulated_runs_leave_a_real_batch_folder_alone(tmp_path: Path) -> None:
    """`demo` and `batch --simulate` refuse a folder holding a batch's journal (its videos)."""
    out = tmp_path / "real"
    out.mkdir()
    (out / JOURNAL_NAME).write_bytes(b"")
    (out / "mug-loop.mp4").write_bytes(b"a real video")
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("one\n", encoding="utf-8")
    demo = ["demo", "--out", str(out)]
    for argv in (demo, ["batch", str(briefs), "--out", str(out), "--simulate"]):
        done = videoagent(*argv)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1
        assert "holds the journal of a batch" in done.stderr
    assert (out / "mug-loop.mp4").read_bytes() == b"a real video"
