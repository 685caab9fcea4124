"""The simulator's logs keep the newest records only; its counts stay exact."""

from __future__ import annotations

import inspect
import subprocess
import sys

import aiohttp
from common_helpers import until
from sim_helpers import MakeApi

from videoagent.simulator import Simulator
from videoagent.simulator.__main__ import parse_args


async def test_request_log_keeps_the_newest_and_counts_all(
    make_api: MakeApi, session: aiohttp.ClientSession
) -> None:
    """With log_size=5, eight requests leave the last five logged; stats and offsets count eight."""
    sim, api = await make_api(log_size=5)
    ids = [(await api.get("/account")).headers["X-Request-Id"] for _ in range(8)]
    assert [record.request_id for record in sim.request_log] == ids[3:]
    assert sim.stats().requests == 8
    root = sim.base_url.removesuffix("/v1") + "/_sim/requests"
    async with session.get(root, params={"offset": "0"}) as answer:
        everything = await answer.json()
    assert [r["request_id"] for r in everything["data"]] == ids[3:]
    assert everything["next_offset"] == 8
    async with session.get(root, params={"offset": "6"}) as answer:
        recent = await answer.json()
    assert [r["request_id"] for r in recent["data"]] == ids[6:]
    assert recent["next_offset"] == 8


async def test_webhook_and_download_logs_are_bounded_too(
    make_api: MakeApi, session: aiohttp.ClientSession
) -> None:
    """Deliveries and downloads past log_size drop the oldest; webhooks_sent counts each one."""
    sim, api = await make_api(log_size=2)
    project_id = (await api.create(webhook_url="http://127.0.0.1:9/hook"))["id"]  # refused
    sim.advance(3_000)  # queued, running, generating, rendering, idle: five status changes
    await until(lambda: sim.stats().webhooks_sent == 5)
    assert [d.project_status for d in sim.webhook_deliveries] == ["rendering", "idle"]
    url = (await api.get(f"/projects/{project_id}/result")).body["video_url"]
    for byte_range in ("bytes=0-0", "bytes=1-1", "bytes=2-2"):
        async with session.get(url, headers={"Range": byte_range}) as answer:
            assert answer.status == 206
    assert [d.range for d in sim.download_log] == ["bytes=1-1", "bytes=2-2"]


def test_the_default_log_is_bounded() -> None:
    """Both the class and `python -m videoagent.simulator` keep a bounded log unless told not to."""
    default = inspect.signature(Simulator).parameters["log_size"].default
    assert isinstance(default, int)
    assert 0 < default <= 100_000
    assert parse_args([]).log_size == default
    assert parse_args(["--log-size", "none"]).log_size is None
    assert parse_args(["--log-size", "50"]).log_size == 50


def test_a_bad_log_size_is_one_line() -> None:
    """`--log-size -1` is refused in one line with status 2, never a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "videoagent.simulator", "--log-size", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--log-size: must be 0 or more" in done.stderr
