"""Text from the server is shown, never obeyed: terminal controls are escaped in every output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web
from cli_helpers import VIDEOAGENT, clean_env, sim_env, videoagent
from odd_server import OddServer
from test_cli_pty import run_in_pty

from videoagent.simulator import BackgroundSimulator

#: A window title (OSC), clear screen, a carriage return, a BEL, a one-byte CSI (C1),
#: a right-to-left override and isolate, a backspace, a DEL.
HOSTILE = "evil\x1b]0;pwned\x07 \x1b[2J\rgone \x9b31m \u202egnp.exe\u2066 \x08\x7f"
#: How it must look: every control written as a visible escape.
SHOWN = r"evil\x1b]0;pwned\x07 \x1b[2J\x0dgone \x9b31m \u202egnp.exe\u2066 \x08\x7f"
#: Characters a terminal acts on (line feeds aside), and bidi controls.
ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PROJECT = "prj_hostile0000000001"


def assert_inert(text: str) -> None:
    """Nothing the terminal would act on; the hostile text shown escaped."""
    assert ACTIVE.search(text) is None, repr(text)
    assert SHOWN in text, text


def test_briefs_and_messages_echoed_by_the_api_are_escaped(simulator: BackgroundSimulator) -> None:
    """A brief and a message carrying terminal controls print escaped in get, list and messages."""
    env = sim_env(simulator)
    created = videoagent("create", HOSTILE, "--mode", "collaborative", "--wait", env=env)
    assert created.returncode == 0, created.stderr
    assert_inert(created.stdout)
    project_id = re.search(r"id\s+(prj_\w+)", created.stdout).group(1)  # type: ignore[union-attr]
    for argv in (["get", project_id], ["list"]):
        shown = videoagent(*argv, env=env)
        assert shown.returncode == 0, shown.stderr
        assert_inert(shown.stdout)
    assert videoagent("send", project_id, HOSTILE, env=env).returncode == 0
    listed = videoagent("messages", project_id, env=env)
    assert_inert(listed.stdout)
    as_json = videoagent("messages", project_id, "--json", env=env)
    assert ACTIVE.search(as_json.stdout) is None  # JSON escapes them as \\u001b
    assert HOSTILE in [json.loads(line)["content"] for line in as_json.stdout.splitlines()]


def _project(**fields: Any) -> dict[str, Any]:
    return {
        "id": PROJECT,
        "object": "project",
        "status": "failed",
        "mode": "autonomous",
        "brief": HOSTILE,
        "agent_message": HOSTILE,
        "error_message": HOSTILE,
        "progress": None,
        "webhook_url": None,
        "metadata": {},
        "has_result": False,
        "created_at": "2030-01-01T00:00:00.000Z",
        "updated_at": "2030-01-01T00:00:00.000Z",
        **fields,
    }


async def _hostile(odd_server: OddServer, project: dict[str, Any]) -> dict[str, str]:
    """Serve an API whose every text is HOSTILE; the environment pointing at it."""

    async def account(_: web.Request) -> web.Response:
        body = {"object": "account", "credits": 10_000, "plan": "free", "active_projects": 0}
        return web.json_response({**body, "renders_today": 0, "projects_today": 0})

    async def one(_: web.Request) -> web.Response:
        return web.json_response(project, status=202)

    async def messages(_: web.Request) -> web.Response:
        message = {"id": "msg_hostile00000001", "object": "message", "project_id": PROJECT}
        message |= {"role": "agent", "content": HOSTILE, "created_at": project["created_at"]}
        return web.json_response({"object": "list", "data": [message], "has_more": False})

    async def missing(_: web.Request) -> web.Response:
        error = {"code": "not_found", "message": HOSTILE, "request_id": "req_1"}
        return web.json_response({"error": error}, status=404)

    odd_server.route("GET", "/v1/account", account)
    odd_server.route("POST", "/v1/projects", one)
    odd_server.route("GET", f"/v1/projects/{PROJECT}", one)
    odd_server.route("GET", f"/v1/projects/{PROJECT}/messages", messages)
    odd_server.route("GET", "/v1/projects/prj_missing000000001", missing)
    base_url = await odd_server.start()
    return clean_env(
        VIDEOAGENT_API_KEY="es_live_" + "h" * 32,
        VIDEOAGENT_BASE_URL=base_url,
        VIDEOAGENT_TIME_SCALE="0.002",
    )


async def _run(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    done = await anyio.run_process([VIDEOAGENT, *argv], env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def _failing_batch(odd_server: OddServer, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """A hostile server whose one project fails with HOSTILE; its env and a batch's argv."""
    env = await _hostile(odd_server, _project())
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("a brief\n", encoding="utf-8")
    return env, ["batch", str(briefs), "--out", str(tmp_path / "v"), "--retries", "0"]


async def test_a_hostile_batch_shows_progress_and_summary_escaped(
    odd_server: OddServer, tmp_path: Path
) -> None:
    """A project failing with a hostile message: plain progress lines and the summary escape it."""
    env, argv = await _failing_batch(odd_server, tmp_path)
    status, out, err = await _run(env, *argv)
    assert status == 1, err
    assert_inert(err)  # the plain progress line of the failure
    assert_inert(out)  # the summary's failed row
    assert "Traceback" not in err


async def test_a_hostile_batch_in_a_terminal_is_escaped(
    odd_server: OddServer, tmp_path: Path
) -> None:
    """On a terminal (the live display) the failure shows escaped; none of its controls act."""
    env, argv = await _failing_batch(odd_server, tmp_path)
    argv += ["--api-key", env["VIDEOAGENT_API_KEY"], "--base-url", env["VIDEOAGENT_BASE_URL"]]
    status, output = await anyio.to_thread.run_sync(run_in_pty, argv)
    assert status == 1, output
    for control in ("\x1b]0;pwned", "\x1b[2J", "\x9b31m", "\u202e", "\u2066", "\x07", "\x08"):
        assert control not in output  # rich draws with its own sequences, never these
    assert "pwned" in output
    assert r"\x1b]0;pwned" in output.replace("\r\n", "\n").replace("\n", "")


async def test_watch_and_errors_from_a_hostile_server_are_escaped(odd_server: OddServer) -> None:
    """watch's question, messages and failures, and an API error's message, print escaped."""
    env = await _hostile(odd_server, _project(status="idle", mode="collaborative"))
    status, out, err = await _run(env, "watch", PROJECT)
    assert status == 0, err
    assert_inert(out)
    status, out, err = await _run(env, "get", "prj_missing000000001")
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert_inert(err)
    status, out, err = await _run(env, "watch", "prj_missing000000001")
    assert status == 1
    assert_inert(out)  # the watch_failed line
    assert_inert(err)  # the watcher's warning
