"""Every bad argument, path or port is one line and a status, and nothing is sent or written."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import VIDEOAGENT, clean_env, sim_env, videoagent

from videoagent.simulator import BackgroundSimulator

ID = "prj_abcdefgh12345678"
#: (arguments, status, what stderr says); {briefs}, {file}, {tmp} and {busy} are filled in.
CASES = [
    (["get", ""], 2, "argument id: a project id must look like prj_"),
    (["get", "  "], 2, "a project id must look like prj_"),
    (["watch", ID, ""], 2, "argument id: a project id must look like prj_"),
    (["messages", "", "--follow"], 2, "a project id must look like prj_"),
    (["send", "", "hi"], 2, "a project id must look like prj_"),
    (["send", ID, " "], 2, "argument text: the message must not be empty"),
    (["cancel", ""], 2, "a project id must look like prj_"),
    (["render", ""], 2, "a project id must look like prj_"),
    (["render", ID, "--resolution", "8k"], 2, "argument --resolution: invalid choice: '8k'"),
    (["download", ""], 2, "a project id must look like prj_"),
    (["download", ID, "{file}/v.mp4"], 2, "the path {file}/v.mp4: {file} is a file"),
    (["download", ID, "{tmp}"], 2, "the path {tmp} is a folder, not a file"),
    (["create", ""], 2, "argument brief: the brief must not be empty"),
    (["create", " \t "], 2, "the brief must not be empty"),
    (["create", "ok", "--idempotency-key", ""], 2, "idempotency_key must not be empty"),
    (["create", "ok", "--metadata", "novalue"], 2, "--metadata takes KEY=VALUE"),
    (["keys", "create", ""], 2, "argument name: the key's name must not be empty"),
    (["keys", "revoke", ""], 2, "argument key_id: a key id must look like key_"),
    (["list", "--status", "bogus"], 2, "argument --status: invalid choice: 'bogus'"),
    (["list", "--status", ""], 2, "argument --status: invalid choice: ''"),
    (["batch", "{briefs}", "--out", "{file}"], 2, "--out {file} is a file, not a folder"),
    (["batch", "{briefs}", "--out", "{file}/v"], 2, "--out {file}/v: {file} is a file"),
    (["batch", "{briefs}", "--out", "{tmp}/v", "--journal", "{file}/j"], 2, "{file} is a file"),
    (["batch", "{briefs}", "--out", "{tmp}/v", "--journal", "{tmp}"], 2, "is a folder, not a"),
    (["batch", "{briefs}", "--out", "{tmp}/v", "--reply", " "], 2, "--reply must not be empty"),
    (["batch", "{briefs}", "--out", "{tmp}/v", "--webhook-listen", "nonsense"], 2, "HOST:PORT"),
    (
        ["batch", "{briefs}", "--out", "{tmp}/v", "--webhook-listen", "127.0.0.1:99999"],
        2,
        "--webhook-listen must be HOST:PORT with a port from 0 to 65535",
    ),
    (
        ["batch", "{briefs}", "--out", "{tmp}/v", "--webhook-listen", "127.0.0.1:{busy}"],
        2,
        "--webhook-listen cannot listen on 127.0.0.1:{busy}: ",
    ),
    (
        ["batch", "{briefs}", "--out", "{tmp}/v", "--simulate", "--journal", "{tmp}/j"],
        2,
        "--journal does not go with --simulate",
    ),
    (["demo", "--out", "{file}"], 2, "--out {file} is a file, not a folder"),
    (["demo", "--out", "{file}/demo"], 2, "--out {file}/demo: {file} is a file"),
    (["simulate", "--port", "99999"], 2, "argument --port: must be from 0 to 65535"),
    (["simulate", "--port", "{busy}"], 1, "cannot listen on 127.0.0.1:{busy}: "),
    (["simulate", "--time-scale", "0"], 2, "argument --time-scale: must be a positive number"),
]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(case[0])[:40])
def test_bad_input_is_one_line_and_nothing_happens(
    simulator: BackgroundSimulator,
    tmp_path: Path,
    busy_port: int,
    case: tuple[list[str], int, str],
) -> None:
    """A bad id, brief, choice, path or port: one line naming it, its status, nothing sent."""
    argv, status, message = case
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n", encoding="utf-8")
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("one brief\n", encoding="utf-8")
    fill = {"{briefs}": str(briefs), "{file}": str(a_file), "{tmp}": str(tmp_path)}
    fill["{busy}"] = str(busy_port)

    def filled(text: str) -> str:
        for placeholder, value in fill.items():
            text = text.replace(placeholder, value)
        return text

    env = {**sim_env(simulator), "VIDEOAGENT_WEBHOOK_SECRET": "whsec-test"}
    done = videoagent(*map(filled, argv), env=env)
    assert (done.returncode, done.stdout) == (status, ""), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert filled(message) in done.stderr
    assert simulator.request_log == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "briefs.txt"]


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n", "   \n\t\n"], ids=["empty", "blank", "comment", "ws"]
)
def test_a_file_without_briefs_is_a_usage_error(
    simulator: BackgroundSimulator, tmp_path: Path, text: str
) -> None:
    """A briefs file with nothing to send: one line, status 2, no journal, no folder, no request."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text(text, encoding="utf-8")
    out = tmp_path / "videos"
    done = videoagent("batch", str(briefs), "--out", str(out), env=sim_env(simulator))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(briefs) in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    assert simulator.request_log == []


def test_plain_http_elsewhere_is_one_warning_line_naming_allow_insecure(tmp_path: Path) -> None:
    """A plain-http base URL off loopback gives one line of ours naming --allow-insecure.

    (Nothing is sent: the destination is refused first, so no name is looked up.)
    """
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    env = clean_env(
        VIDEOAGENT_API_KEY="es_live_" + "k" * 32,
        VIDEOAGENT_BASE_URL="http://api.example.invalid/v1",
    )
    argv = ["download", ID, str(a_file / "v.mp4")]
    warned = videoagent(*argv, env=env)
    assert warned.returncode == 2
    lines = warned.stderr.splitlines()
    assert len(lines) == 2, warned.stderr
    assert lines[0].startswith("videoagent: warning: the base URL is plain http")
    assert "--allow-insecure" in lines[0]
    assert "InsecureBaseURLWarning" not in warned.stderr
    assert "allow_insecure=True" not in warned.stderr
    assert ".py:" not in warned.stderr  # no file:line of a Python warning
    allowed = videoagent(*argv, "--allow-insecure", env=env)
    assert allowed.returncode == 2
    assert allowed.stderr.count("\n") == 1
    assert "warning" not in allowed.stderr


def test_watch_and_messages_json_are_json_lines(simulator: BackgroundSimulator) -> None:
    """`watch --json` and `messages --json` (with --follow too) print one JSON object a line."""
    env = sim_env(simulator)
    created = videoagent("create", "json lines", "--mode", "collaborative", "--json", env=env)
    project_id = json.loads(created.stdout)["id"]
    watched = videoagent("watch", project_id, "--json", env=env)
    assert watched.returncode == 0, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert len(events) >= 2
    assert {e["event"] for e in events} >= {"status", "decision_point"}
    listed = videoagent("messages", project_id, "--json", env=env)
    messages = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [m["role"] for m in messages] == ["agent"]
    with subprocess.Popen(
        [VIDEOAGENT, "messages", project_id, "--follow", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    assert first["id"] == messages[0]["id"]


def test_a_closed_stdout_ends_quietly(simulator: BackgroundSimulator) -> None:
    """Output piped into a reader that has gone (`| head`): status 1, no traceback."""
    env = sim_env(simulator)
    for brief in ("first", "second"):
        videoagent("create", brief, env=env)
    with subprocess.Popen(
        [VIDEOAGENT, "list"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        process.stdout.close()  # before the command writes: its write meets a broken pipe
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in err
    assert not re.search(r"Exception ignored|BrokenPipe", err), err
