"""The live progress display, seen in a pseudo-terminal as a user's terminal would see it."""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
from pathlib import Path

from cli_helpers import VIDEOAGENT, clean_env


def run_in_pty(args: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdin, stdout and stderr; status and output."""
    controller, terminal = pty.openpty()
    env = clean_env(TERM="xterm-256color", COLUMNS="120", LINES="40")
    with subprocess.Popen(
        [VIDEOAGENT, *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env
    ) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError as exc:  # EIO: the terminal's other side closed
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        os.close(controller)
        status = process.wait(timeout=timeout)
    return status, b"".join(chunks).decode("utf-8", "replace")


def test_live_progress_in_a_terminal(tmp_path: Path) -> None:
    """On a terminal: redrawn lines per active project with status and time, and an overall bar."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("\n".join(f"terminal teaser {i}" for i in range(6)) + "\n", encoding="utf-8")
    status, output = run_in_pty(
        ["batch", str(briefs), "--out", str(tmp_path / "v"), "--simulate", "--time-scale", "0.004"]
    )
    assert status == 0, output
    assert "\x1b[" in output  # escape sequences: the display redraws in place
    assert "━" in output  # the overall bar
    assert re.search(r"\d+/6", output)
    assert re.search(r"\d active", output)
    row = re.compile(
        r"0001-terminal-teaser-0\.mp4\s+prj_\w+\s+(\x1b\[[0-9;]*m)?(queued|running|generating|rendering|idle|downloading)"
    )
    assert row.search(output), output[-2000:]
    assert re.search(r"\d+\.\ds", output)  # elapsed time per project
    assert "6 done, 0 failed, 0 skipped" in output


def test_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    """Not a terminal: one plain line per change, no escape sequences at all."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("pipe teaser\n", encoding="utf-8")
    done = subprocess.run(
        [
            VIDEOAGENT,
            "batch",
            str(briefs),
            "--out",
            str(tmp_path / "v"),
            "--simulate",
            "--time-scale",
            "0.002",
        ],
        env=clean_env(TERM="xterm-256color"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert lines[0] == "[0/1] 0001-pipe-teaser.mp4 creating"
    assert re.fullmatch(
        r"\[1/1\] 0001-pipe-teaser\.mp4 prj_\w+ done: .*0001-pipe-teaser\.mp4", lines[-1]
    )


def test_quiet_prints_only_the_summary(tmp_path: Path) -> None:
    """`--quiet` shows no progress at all, only the summary on stdout."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("quiet teaser\n", encoding="utf-8")
    status, output = run_in_pty(
        [
            "batch",
            str(briefs),
            "--out",
            str(tmp_path / "v"),
            "--simulate",
            "--quiet",
            "--time-scale",
            "0.002",
        ]
    )
    assert status == 0
    assert "━" not in output
    assert "creating" not in output
    assert "1 done, 0 failed, 0 skipped" in output
