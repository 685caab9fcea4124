"""README's first command, ``videoagent demo``, run as a user runs it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from cli_helpers import videoagent
from common_helpers import CREATE_COST, MESSAGE_COST

DEMO_FILES = {
    "ebike-teaser.mp4",
    "mug-loop.mp4",
    "bank-explainer.mp4",
    "jazz-sting.mp4",
    "curry-short.mp4",
    "lighthouse-trailer.mp4",
    "loft-walkthrough.mp4",
    "robotics-recruiting.mp4",
}


def test_demo_as_in_the_readme() -> None:
    """`videoagent demo` (no flags) makes 8 verified videos in a temporary folder and says where."""
    done = videoagent("demo", timeout=60)
    assert done.returncode == 0, done.stderr
    match = re.search(r"Your videos are in (\S+)", done.stdout)
    assert match is not None, done.stdout
    folder = Path(match.group(1))
    try:
        assert {p.name for p in folder.glob("*.mp4")} == DEMO_FILES
        assert "Batch " in done.stdout
        assert "8 done, 0 failed, 0 skipped" in done.stdout
        assert re.search(r"curry-short\.mp4 .*\(1 retry\)", done.stdout)
        assert re.search(r"bank-explainer\.mp4 .*\(\d repl(y|ies)\)", done.stdout)
        assert "credits used: " in done.stdout
        # not a terminal: plain progress lines on stderr, with the failure that recovered
        assert "curry-short.mp4" in done.stderr
        assert "retrying" in done.stderr
        assert "replying" in done.stderr
        assert "jazz-sting.mp4" in done.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_demo_json_into_a_given_folder(tmp_path: Path) -> None:
    """`demo --out DIR --json` prints a machine-readable summary whose checksums match the files."""
    done = videoagent("demo", "--out", str(tmp_path), "--json", "--time-scale", "0.002")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"done": 8, "failed": 0, "pending": 0, "skipped": 0}
    assert done.stderr == ""  # --json: no progress display
    for outcome in summary["done"]:
        data = Path(outcome["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == outcome["sha256"]
        assert Path(outcome["path"]).parent == tmp_path
    assert summary["credits_used"] >= 8 * CREATE_COST + MESSAGE_COST
    assert summary["requests"] > 8
