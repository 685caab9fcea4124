"""Secrets never reach the command's output: resume lines and argument errors hide them."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import VIDEOAGENT, clean_env

from videoagent.cli import main
from videoagent.cli._batch import _resume_line
from videoagent.simulator import BackgroundSimulator

KEY = "es_live_" + "S3cr3t" * 5 + "zz"
WEBHOOK_SECRET = "whsec-hush-hush-0123456789"


def batch_command(sim: BackgroundSimulator, folder: Path, briefs: int) -> list[str]:
    """A batch of ``briefs`` briefs with the key and the webhook secret given as flags."""
    path = folder / "briefs.txt"
    path.write_text("".join(f"secret-test teaser {i}\n" for i in range(briefs)), encoding="utf-8")
    return [
        VIDEOAGENT,
        "batch",
        str(path),
        "--out",
        str(folder / "v"),
        "--api-key",
        sim.api_key,
        f"--webhook-secret={WEBHOOK_SECRET}",
        "--base-url",
        sim.base_url,
        "--time-scale",
        "0.01",
    ]


@pytest.fixture
def slow_simulator() -> Iterator[BackgroundSimulator]:
    """A simulator slow enough (0.01) that a Ctrl-C lands while projects run; its key is KEY."""
    with BackgroundSimulator(time_scale=0.01, seed=3, api_key=KEY) as sim:
        yield sim


def test_ctrl_c_resume_line_has_no_secret(
    slow_simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """After a Ctrl-C the summary's resume line names the variables, never the key or secret."""
    command = batch_command(slow_simulator, tmp_path, 2)
    with subprocess.Popen(
        command, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        for line in process.stderr:
            if " queued" in line:  # a project runs: interrupt now
                process.send_signal(signal.SIGINT)
                break
        output = process.stderr.read() + process.stdout.read()
        assert process.wait(timeout=60) == 130
    assert KEY not in output
    assert WEBHOOK_SECRET not in output
    assert "Resume with:" in output
    assert f"--out {tmp_path / 'v'} --base-url {slow_simulator.base_url}" in output
    assert "# with $VIDEOAGENT_API_KEY and $VIDEOAGENT_WEBHOOK_SECRET set" in output


def test_second_ctrl_c_resume_line_has_no_secret(
    slow_simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """A second Ctrl-C's one-line resume hint on stderr shows neither the key nor the secret."""
    command = batch_command(slow_simulator, tmp_path, 12)
    with subprocess.Popen(
        command, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        for line in process.stderr:
            if line.startswith("Stopping"):
                process.send_signal(signal.SIGINT)
                break
            if " queued" in line:
                process.send_signal(signal.SIGINT)
        output = process.stderr.read() + process.stdout.read()
        assert process.wait(timeout=60) == 130
    assert KEY not in output
    assert WEBHOOK_SECRET not in output
    assert "Quit. Resume with: videoagent batch " in output
    assert "$VIDEOAGENT_API_KEY" in output


@pytest.mark.parametrize(
    "secret_args",
    [
        ["--api-key", KEY],
        [f"--api-key={KEY}"],
        ["--api-k", KEY],  # argparse takes an unambiguous abbreviation
        ["--webhook-secret", KEY],
        [f"--webhook-s={KEY}"],
    ],
)
def test_resume_line_drops_every_form_of_a_secret_option(secret_args: list[str]) -> None:
    """Each spelling argparse accepts for a secret option is left out with its value."""
    argv = ["batch", "briefs.txt", *secret_args, "--out", "videos", "-q"]
    line = _resume_line(argv)
    assert KEY not in line
    assert line.startswith("videoagent batch briefs.txt --out videos -q  # with $VIDEOAGENT_")


def test_resume_line_without_secrets_is_the_command() -> None:
    """Without secret options the resume line is the command as given, and a `--` ends options."""
    assert _resume_line(["batch", "b.txt", "--out", "o"]) == "videoagent batch b.txt --out o"
    assert _resume_line(["batch", "--out", "o", "--", "--api-key"]) == (
        "videoagent batch --out o -- --api-key"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--apikey", KEY, "get", "prj_12345678"],  # a misspelt option: KEY taken for the command
        ["--api_key", KEY, "account"],
        ["get", "prj_12345678", "--apikey", KEY],  # unrecognized arguments: --apikey KEY
        ["get", "prj_12345678", "--api-key", KEY, KEY],  # the same value twice
        ["batch", "b.txt", "--out", "o", f"--webhook={KEY}"],  # ambiguous option: --webhook=KEY
        ["get", "prj_12345678", "es_live_x"],  # a key-shaped value anywhere
        ["--api-key", KEY, "list", "--limit", KEY],  # echoed as an invalid count
    ],
)
def test_argument_errors_never_echo_a_secret(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An argument error is status 2 with argparse's message, the secret value replaced."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "error: " in err
    assert "<redacted>" in err
    assert "es_live_" not in out + err
    assert KEY[8:] not in out + err


def test_configuration_errors_never_echo_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """A key pasted where the base URL goes is hidden in the usage error that names it."""
    assert main(["--api-key", KEY, "--base-url", KEY, "account"]) == 2
    _, err = capsys.readouterr()
    assert "--base-url must be an http:// or https:// URL" in err
    assert KEY not in err
