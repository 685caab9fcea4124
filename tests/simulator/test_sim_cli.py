"""The command: ``python -m videoagent.simulator`` announces itself and stops on a signal."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

KEY = "es_live_" + "A1b2C3d4" * 4


def test_first_line_is_base_url_and_key_and_sigterm_stops_it() -> None:
    """The first line is '<base_url> <api_key>'; the key works; SIGTERM exits cleanly."""
    command = [sys.executable, "-m", "videoagent.simulator", "--host", "127.0.0.1"]
    command += ["--port", "0", "--time-scale", "0.01", "--seed", "5", "--api-key", KEY]
    command += ["--webhook-secret", "whsec_cli"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base_url, key = process.stdout.readline().split()
            assert base_url.startswith("http://127.0.0.1:")
            assert base_url.endswith("/v1")
            assert key == KEY
            request = urllib.request.Request(
                base_url + "/account", headers={"Authorization": f"Bearer {KEY}"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                account = json.load(answer)
            assert (account["credits"], account["plan"]) == (10_000, "free")
            control = base_url.removesuffix("/v1") + "/_sim/webhook-secret"
            with urllib.request.urlopen(control, timeout=10) as answer:
                assert json.load(answer) == {"webhook_secret": "whsec_cli"}
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0


def _serve(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "videoagent.simulator", *options],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "99999"], "--port: must be from 0 to 65535, got 99999"),
        (["--port", "http"], "--port: must be a whole number, got 'http'"),
        (["--time-scale", "0"], "--time-scale: must be a positive number"),
        (["--time-scale", "nan"], "--time-scale: must be a positive number"),
        (["--failure-rate", "2"], "--failure-rate: must be from 0 to 1"),
        (["--decision-points", "3-1"], "--decision-points: must be LOW-HIGH with 0 <= LOW"),
        (["--request-limit", "-4"], "--request-limit: must be 1 or more"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_are_one_line_and_status_2(options: list[str], message: str) -> None:
    """A bad option is one line on stderr naming it, status 2, no traceback, nothing served."""
    done = _serve(*options)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_a_busy_port_is_one_line_and_status_1() -> None:
    """A port another program holds is one line naming the address, status 1, no traceback."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _serve("--port", str(port))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr
