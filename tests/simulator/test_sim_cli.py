"""The command: ``python -m videoagent.simulator`` announces itself and stops on a signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

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
