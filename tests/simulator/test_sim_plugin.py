"""``videoagent.testing``: the pytest plugin works in sync, anyio and plain asyncio tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_TESTS = """
import asyncio, json, os, urllib.request
import pytest

def _account(base_url, key):
    headers = {"Authorization": "Bearer " + key}
    request = urllib.request.Request(base_url + "/account", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)

def test_sync(videoagent_simulator):
    assert _account(videoagent_simulator.base_url, videoagent_simulator.api_key)["credits"] == 10000
    videoagent_simulator.advance(10)
    assert videoagent_simulator.stats().requests == 1

def test_env(videoagent_env):
    assert _account(os.environ["VIDEOAGENT_BASE_URL"], os.environ["VIDEOAGENT_API_KEY"])

@pytest.mark.videoagent_simulator(request_limit=1)
def test_marker(videoagent_simulator):
    _account(videoagent_simulator.base_url, videoagent_simulator.api_key)
    with pytest.raises(urllib.error.HTTPError):
        _account(videoagent_simulator.base_url, videoagent_simulator.api_key)

def test_in_a_running_loop(videoagent_simulator):
    async def main():
        sim = videoagent_simulator
        return await asyncio.to_thread(_account, sim.base_url, sim.api_key)
    assert asyncio.run(main())["plan"] == "free"

@pytest.mark.anyio
async def test_anyio(videoagent_simulator):
    key = videoagent_simulator.add_account(credits=5, plan="pro")
    from anyio import to_thread
    account = await to_thread.run_sync(_account, videoagent_simulator.base_url, key)
    assert (account["credits"], account["plan"]) == (5, "pro")

@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def test_user_tests_pass_with_the_plugin(tmp_path: Path) -> None:
    """A user's sync, anyio and asyncio tests get a working simulator from the fixtures."""
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:videoagent", "-p", "videoagent.testing", "-W", "error", str(tmp_path)]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
