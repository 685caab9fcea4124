"""Every one-call command against the simulator, through ``main`` as the console script calls it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from cli_helpers import FAST, SCALE, VIDEOAGENT, sim_env

from videoagent.cli import main
from videoagent.simulator import BackgroundSimulator

Capture = pytest.CaptureFixture[str]

pytestmark = pytest.mark.videoagent_simulator(time_scale=SCALE, seed=9, durations=FAST)


@pytest.fixture
def env(
    videoagent_env: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> BackgroundSimulator:
    """The plugin's simulator with VIDEOAGENT_* set, at the tests' time scale."""
    monkeypatch.setenv("VIDEOAGENT_TIME_SCALE", str(SCALE))
    return videoagent_env


def run(capsys: Capture, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_create_wait_get_list(env: BackgroundSimulator, capsys: Capture) -> None:
    """create --wait ends idle with a result; get and list show it; --json gives the API object."""
    status, out, _ = run(capsys, "create", "a cli teaser", "--wait", "--metadata", "team=cli")
    assert status == 0
    project_id = re.search(r"id\s+(prj_\w+)", out).group(1)  # type: ignore[union-attr]
    assert re.search(r"status\s+idle", out)
    assert "has result  yes" in out
    status, out, _ = run(capsys, "get", project_id, "--json")
    assert (status, json.loads(out)["metadata"]) == (0, {"team": "cli"})
    status, out, _ = run(capsys, "list", "--limit", "5")
    assert status == 0
    assert out.startswith(project_id)
    assert "(result ready)" in out


def test_send_messages_render_download_cancel(
    env: BackgroundSimulator, capsys: Capture, tmp_path: Path
) -> None:
    """A collaborative project answered with send, followed, rendered, downloaded, cancelled."""
    status, out, _ = run(capsys, "create", "collab via cli", "--mode", "collaborative", "--wait")
    project_id = re.search(r"id\s+(prj_\w+)", out).group(1)  # type: ignore[union-attr]
    assert "has result  no" in out  # a decision point
    status, out, _ = run(capsys, "messages", project_id)
    assert status == 0
    assert "agent  Decision point 1" in out
    status, out, _ = run(capsys, "send", project_id, "make it warmer")
    assert status == 0
    assert f"{project_id} is queued" in out
    for _ in range(5):  # until the last decision point is answered
        run(capsys, "watch", project_id)
        _, out, _ = run(capsys, "get", project_id)
        if "has result  yes" in out:
            break
        run(capsys, "send", project_id, "go ahead")
    assert "has result  yes" in out
    status, out, _ = run(capsys, "render", project_id, "--wait")
    assert (status, f"{project_id} is idle" in out) == (0, True)
    status, out, _ = run(capsys, "download", project_id, str(tmp_path / "v.mp4"))
    assert status == 0
    assert "(verified)" in out
    assert (tmp_path / "v.mp4").stat().st_size > 0
    status, out, _ = run(capsys, "cancel", project_id)
    assert (status, out.strip()) == (0, f"{project_id} is cancelled")
    status, _, err = run(capsys, "cancel", project_id)
    assert status == 1
    assert "conflict" in err
    assert "request_id req_" in err


def test_watch_follows_to_the_end(env: BackgroundSimulator, capsys: Capture) -> None:
    """watch prints each status change of several projects until all are idle."""
    ids = []
    for brief in ("watch one", "watch two"):
        _, out, _ = run(capsys, "create", brief)
        ids.append(re.search(r"id\s+(prj_\w+)", out).group(1))  # type: ignore[union-attr]
    status, out, _ = run(capsys, "watch", *ids)
    assert status == 0
    for project_id in ids:
        assert f"{project_id}  idle" in out
    assert "agent: Done" in out


def test_account_and_keys(env: BackgroundSimulator, capsys: Capture) -> None:
    """account shows the credits; keys create shows the new secret once, list and revoke work."""
    status, out, _ = run(capsys, "account")
    assert (status, re.search(r"credits\s+10,000", out) is not None) == (0, True)
    status, out, _ = run(capsys, "keys", "create", "ci")
    key_id = re.search(r"created (key_\w+)", out).group(1)  # type: ignore[union-attr]
    assert re.search(r"^es_live_\w{32}$", out, re.MULTILINE)
    assert "not shown again" in out
    status, out, _ = run(capsys, "keys", "list")
    assert key_id in out
    assert "es_live_" + "x" not in out
    assert env.api_key not in out
    status, out, _ = run(capsys, "keys", "revoke", key_id)
    assert (status, out.strip()) == (0, f"revoked {key_id}")


def test_missing_project_is_status_1(env: BackgroundSimulator, capsys: Capture) -> None:
    """An API error is one line with its request id and status 1; a malformed id is status 2."""
    status, _, err = run(capsys, "get", "prj_doesnotexist")
    assert status == 1
    assert "not_found" in err
    status, _, err = run(capsys, "get", "not-an-id")
    assert status == 2
    assert "prj_" in err
    assert env.stats().requests == 1  # the malformed id was never sent


def test_messages_follow_until_ctrl_c(env: BackgroundSimulator, capsys: Capture) -> None:
    """messages --follow prints new messages as they come and ends with 130 on Ctrl-C."""
    _, out, _ = run(capsys, "create", "followed", "--mode", "collaborative")
    project_id = re.search(r"id\s+(prj_\w+)", out).group(1)  # type: ignore[union-attr]
    with subprocess.Popen(
        [VIDEOAGENT, "messages", project_id, "--follow"],
        env=sim_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    assert "Decision point 1" in first


def test_simulate_prints_url_and_key() -> None:
    """`videoagent simulate` serves the API and announces its URL and key on the first line."""
    with subprocess.Popen(
        [VIDEOAGENT, "simulate", "--port", "0", "--time-scale", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) in (0, 130)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1 es_live_\w{32}\n", line)


def test_wait_and_watch_exit_1_when_a_project_ends_badly(
    env: BackgroundSimulator, capsys: Capture
) -> None:
    """render --wait of a failed render, and create --wait or watch of a cancelled project: 1."""
    _, out, _ = run(capsys, "create", "a render that will fail", "--wait")
    project_id = re.search(r"id\s+(prj_\w+)", out).group(1)  # type: ignore[union-attr]
    env.fail_project(project_id)  # an idle project fails at its next run: the render
    status, out, _ = run(capsys, "render", project_id, "--wait")
    assert (status, out.strip()) == (1, f"{project_id} is failed")

    _, out, _ = run(capsys, "create", "cancelled meanwhile", "--idempotency-key", "cli-cancel")
    project_id = re.search(r"id\s+(prj_\w+)", out).group(1)  # type: ignore[union-attr]
    assert run(capsys, "cancel", project_id)[0] == 0
    status, out, _ = run(capsys, "watch", project_id)
    assert (status, out.strip()) == (1, f"{project_id}  cancelled")
    # the same key: the API answers with the same, now cancelled, project
    status, out, _ = run(
        capsys, "create", "cancelled meanwhile", "--idempotency-key", "cli-cancel", "--wait"
    )
    assert status == 1
    assert re.search(rf"id\s+{project_id}\n", out)
    assert re.search(r"status\s+cancelled", out)


def test_common_options_before_the_command(
    env: BackgroundSimulator, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--json, --api-key and --base-url work before the command's name as after it."""
    monkeypatch.delenv("VIDEOAGENT_API_KEY")
    monkeypatch.delenv("VIDEOAGENT_BASE_URL")
    connection = ["--api-key", env.api_key, "--base-url", env.base_url]
    status, out, err = run(capsys, "--json", *connection, "account")
    assert status == 0, err
    assert json.loads(out)["credits"] == 10_000
    status, out, err = run(
        capsys, "--json", "--api-key", env.api_key, "keys", "list", "--base-url", env.base_url
    )
    assert status == 0, err
    assert isinstance(json.loads(out), list)
    status, out, _ = run(capsys, *connection, "account")  # not --json: the text
    assert re.search(r"credits\s+10,000", out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "--limit", "0"], "argument --limit: must be 1 or more, got 0"),
        (["list", "--limit", "many"], "argument --limit: must be a whole number, got 'many'"),
        (["batch", "b.txt", "--out", "o", "--retries", "-1"], "--retries: must be 0 or more"),
        (["-v", "simulate"], "simulate takes its own options, after its name"),
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], message: str, capsys: Capture) -> None:
    """A bad count or option place is status 2 with one clear sentence, never a traceback."""
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert "Traceback" not in err
