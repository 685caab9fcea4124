"""What users of openai-python, httpx and stripe reach for first: the environment, logs,
proxies, statistics, raw answers and extra request fields."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from odd_server import OddServer

from videoagent import (
    AsyncVideoAgent,
    ConfigurationError,
    Limits,
    ProjectStatus,
    RateLimitError,
    RawResponse,
)
from videoagent.simulator import BackgroundSimulator, Simulator

PACKAGE = Path(__file__).resolve().parents[2] / "videoagent"


# -- configuration from the environment ----------------------------------------------


def test_only_the_config_module_reads_the_environment() -> None:
    """No module of the package but ``_config`` reads ``os.environ`` or ``os.getenv``."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
                readers.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert readers
    assert [reader for reader in readers if not reader.startswith("_config.py:")] == []


def test_the_library_reads_the_time_scale_and_an_argument_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``VIDEOAGENT_TIME_SCALE`` sets the client's scale; ``time_scale=`` overrides it."""
    monkeypatch.setenv("VIDEOAGENT_API_KEY", "es_live_" + "a" * 32)
    monkeypatch.setenv("VIDEOAGENT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("VIDEOAGENT_TIME_SCALE", "0.01")
    assert AsyncVideoAgent().time_scale == 0.01
    assert AsyncVideoAgent(time_scale=0.5).time_scale == 0.5
    monkeypatch.setenv("VIDEOAGENT_TIME_SCALE", "fast")
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_TIME_SCALE must be a number"):
        AsyncVideoAgent()


def test_a_key_with_surrounding_whitespace_is_stripped_and_one_inside_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pasted newline around the key is dropped; a broken key is refused without showing it."""
    key = "es_live_" + "b" * 32
    monkeypatch.setenv("VIDEOAGENT_API_KEY", f"  {key}\n")
    monkeypatch.setenv("VIDEOAGENT_BASE_URL", "http://127.0.0.1:9/v1")
    assert repr(AsyncVideoAgent()).count("bbbb") == 1  # the redacted key: the last 4 only
    monkeypatch.setenv("VIDEOAGENT_API_KEY", f"{key[:20]}\n{key[20:]}")
    with pytest.raises(ConfigurationError) as raised:
        AsyncVideoAgent()
    assert "VIDEOAGENT_API_KEY" in str(raised.value)
    assert key[:20] not in str(raised.value)
    assert key[20:] not in str(raised.value)


def test_the_cli_names_a_bad_time_scale_variable(tmp_path: Path) -> None:
    """The command line reads the variables by the same rule: a bad one is exit 2, named."""
    env = {
        **os.environ,
        "VIDEOAGENT_API_KEY": "es_live_" + "c" * 32,
        "VIDEOAGENT_BASE_URL": "http://127.0.0.1:9/v1",
        "VIDEOAGENT_TIME_SCALE": "fast",
    }
    done = subprocess.run(
        [sys.executable, "-m", "videoagent.cli", "account"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert "VIDEOAGENT_TIME_SCALE must be a number" in done.stderr
    assert "Traceback" not in done.stderr


# -- VIDEOAGENT_LOG ---------------------------------------------------------------------

_LOGGED = textwrap.dedent(
    """
    import anyio
    from videoagent import AsyncVideoAgent

    async def main() -> None:
        async with AsyncVideoAgent() as client:
            project = await client.projects.create("a teaser")
            await client.projects.get(project.id)

    anyio.run(main)
    """
)


@pytest.mark.parametrize("level", ["debug", "info"])
def test_videoagent_log_writes_requests_to_stderr_never_the_key(level: str, tmp_path: Path) -> None:
    """``VIDEOAGENT_LOG=debug`` logs each request (method, path, status, request id,
    duration) to stderr, ``info`` only retries and warnings; neither shows the key."""
    with BackgroundSimulator(time_scale=0.01, seed=3) as sim:
        sim.set_faults(error_500=1.0, only="GET /v1/projects/", count=1)
        env = {
            **os.environ,
            "VIDEOAGENT_API_KEY": sim.api_key,
            "VIDEOAGENT_BASE_URL": sim.base_url,
            "VIDEOAGENT_TIME_SCALE": "0.01",
            "VIDEOAGENT_LOG": level,
        }
        script = tmp_path / "logged.py"
        script.write_text(_LOGGED, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert sim.api_key not in done.stderr
    retries = [line for line in done.stderr.splitlines() if "attempt 2 in" in line]
    assert len(retries) == 1
    assert "HTTP 500" in retries[0]
    requests = [line for line in done.stderr.splitlines() if "elapsed=" in line]
    if level == "info":
        assert requests == []
    else:
        assert any(
            "POST /projects -> 202" in line and "request_id=req_" in line for line in requests
        )
        assert sum("-> 500" in line for line in requests) == 1


# -- proxies --------------------------------------------------------------------------


class _Proxy:
    """A forwarding HTTP proxy on loopback that notes each request line and its headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []  # (url, Authorization)
        self._runner: aiohttp.web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> _Proxy:
        app = aiohttp.web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = aiohttp.web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _forward(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        target = str(request.url)
        self.seen.append((target, request.headers.get("Authorization")))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, target, headers=headers, data=await request.read()
            ) as answer,
        ):
            body = await answer.read()
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("transfer-encoding", "content-length", "connection")
            }
            return aiohttp.web.Response(status=answer.status, body=body, headers=kept)


@pytest.fixture
async def proxy() -> AsyncIterator[_Proxy]:
    """A loopback forwarding proxy."""
    async with _Proxy() as running:
        yield running


async def test_requests_and_downloads_go_through_the_environments_proxy(
    proxy: _Proxy, simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``HTTP_PROXY`` carries API requests and downloads (the downloads without the key);
    ``NO_PROXY`` and ``trust_env=False`` go direct."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with AsyncVideoAgent(
        simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
    ) as client:
        project = await client.projects.create("through the proxy")
        done = await client.projects.wait(project.id)
        assert done.status is ProjectStatus.IDLE
        await client.projects.download(project.id, tmp_path / "v.mp4")
    api = [(url, auth) for url, auth in proxy.seen if "/v1/" in url]
    videos = [(url, auth) for url, auth in proxy.seen if "/v1/" not in url]
    assert api
    assert {auth for _, auth in api} == {f"Bearer {simulator.api_key}"}
    assert videos
    assert {auth for _, auth in videos} == {None}

    proxy.seen.clear()
    async with AsyncVideoAgent(
        simulator.api_key, simulator.base_url, time_scale=simulator.time_scale, trust_env=False
    ) as client:
        await client.account.get()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with AsyncVideoAgent(
        simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
    ) as client:
        await client.account.get()
    assert proxy.seen == []


# -- statistics, raw answers, extra fields -------------------------------------------


async def test_statistics_count_the_window_retries_and_429s(simulator: Simulator) -> None:
    """``statistics()`` shows the window, the slots, retries and the 429s the client met
    (here: another client of the account filled the window behind its back)."""
    sim = simulator
    async with (
        AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale) as client,
        AsyncVideoAgent(
            sim.api_key, sim.base_url, time_scale=sim.time_scale, limits=Limits.unlimited()
        ) as other,
    ):
        project = await client.projects.create("counted")
        stats = client.statistics()
        assert (stats.requests.limit, stats.slots.limit, stats.slots.held) == (30, 5, 1)
        assert stats.requests.in_window == 1
        assert (stats.retries, stats.rate_limited) == (0, 0)
        while sim.stats().rate_limited == 0:  # the other client fills the window
            try:
                await other.with_options(max_retries=0).account.get()
            except RateLimitError:
                break
        await client.projects.get(project.id)  # 429 first, then after Retry-After, 200
        stats = client.statistics()
        assert stats.rate_limited == 1
        assert stats.retries == 1


async def test_raw_responses_show_status_headers_and_the_parsed_object(
    client: AsyncVideoAgent,
) -> None:
    """``with_raw_response`` returns the answer's status and headers, and ``parse()``."""
    raw = await client.projects.with_raw_response.create("raw")
    assert isinstance(raw, RawResponse)
    assert raw.status == 202
    assert (raw.request_id or "").startswith("req_")
    assert int(raw.headers["x-ratelimit-remaining"]) < 30
    project = raw.parse()
    got = await client.projects.with_raw_response.get(project.id)
    assert (got.status, got.parse().id) == (200, project.id)
    account = await client.account.with_raw_response.get()
    assert (account.status, account.parse().active_projects) == (200, 1)
    keys = await client.api_keys.with_raw_response.list()
    assert keys.status == 200
    assert len(keys.parse()) == 1


async def test_extra_headers_query_and_body_are_sent_under_ours(
    odd_server: OddServer, fake_key: str
) -> None:
    """Per-call extras and per-client default headers reach the server; ours win for auth,
    the content type and the idempotency key."""
    project = {
        "id": "prj_extra00001",
        "status": "queued",
        "mode": "autonomous",
        "brief": "b",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }

    bodies: list[object] = []

    async def create(request: aiohttp.web.Request) -> aiohttp.web.Response:
        bodies.append(await request.json())
        return aiohttp.web.json_response(project, status=202)

    odd_server.route("POST", "/v1/projects", create)
    base_url = await odd_server.start()
    async with AsyncVideoAgent(
        fake_key,
        base_url,
        time_scale=0.001,
        limits=Limits.unlimited(),
        default_headers={"X-Team": "video", "Authorization": "Bearer stolen"},
    ) as client:
        await client.projects.create(
            "b",
            idempotency_key="ours",
            extra_headers={"X-Trace": "t1", "Authorization": "Bearer other"},
            extra_query={"beta": "1"},
            extra_body={"priority": "high", "idempotency_key": "theirs", "brief": "x"},
        )
    (request,) = odd_server.requests
    assert request.headers["X-Team"] == "video"
    assert request.headers["X-Trace"] == "t1"
    assert request.headers["Authorization"] == f"Bearer {fake_key}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.query["beta"] == "1"
    assert bodies == [{"priority": "high", "idempotency_key": "ours", "brief": "b"}]
