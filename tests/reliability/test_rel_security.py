"""Secrets and transport security: the key shows nowhere, downloads carry no credentials.

The key is a known one registered with the simulator; after a batch and CLI
commands (working and failing), every log record, repr, exception text,
traceback, file written and line printed is scanned for it (whole, and its
secret part without the ``es_live_`` prefix).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import aiohttp
import aiohttp.web
import pytest
from common_helpers import self_signed_tls
from odd_server import OddServer
from rel_helpers import FAST, KNOWN_KEY, SCALE, files_under, holds_secret

from videoagent import (
    AsyncVideoAgent,
    AuthenticationError,
    DownloadError,
    InvalidRequestError,
    NotFoundError,
)
from videoagent._errors import InsecureBaseURLWarning
from videoagent._wiring import wiring_of
from videoagent.batch import run_batch
from videoagent.simulator import BackgroundSimulator, Simulator
from videoagent.webhooks import WebhookError, WebhookVerifier, sign, verify_signature

VIDEOAGENT = str(Path(sys.executable).with_name("videoagent"))
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16
PROJECT_ID = "prj_abcdefgh12"


def texts_of(error: BaseException) -> list[str]:
    """str, repr and the formatted traceback (with its whole cause chain) of an error."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


# -- the key, everywhere --------------------------------------------------------------


async def test_batch_logs_reprs_errors_and_journal_never_hold_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch with a failing brief, at DEBUG: logs, reprs, errors and every file are key-free."""
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    out = tmp_path / "out"
    async with Simulator(
        time_scale=SCALE, seed=3, durations=FAST, api_key=KNOWN_KEY, failure_rate=0.4
    ) as sim:
        async with AsyncVideoAgent(KNOWN_KEY, sim.base_url, time_scale=SCALE) as client:
            shown += [repr(client), str(client), repr(wiring_of(client).caller.transport)]
            shown += [repr(client.with_options(timeout=5.0)), repr(client.watcher)]
            summary = await run_batch(
                [f"clip {n}" for n in range(6)], out=out, client=client, retries=0
            )
            with pytest.raises(NotFoundError) as missing:
                await client.projects.get("prj_doesnotexist00")
            shown += texts_of(missing.value)
        async with AsyncVideoAgent(
            KNOWN_KEY[:-4] + "nope", sim.base_url, time_scale=SCALE
        ) as wrong:
            with pytest.raises(AuthenticationError) as denied:
                await wrong.account.get()
            shown += texts_of(denied.value)
        downloads = list(sim.download_log)
    shown += [repr(summary), str(summary)]
    shown += [record.getMessage() for record in caplog.records]
    shown += [repr(record.args) for record in caplog.records]
    shown += [caplog.text]
    assert summary.done
    assert summary.failed  # failures were journaled and logged too
    assert any("POST /projects" in text for text in shown)  # the logs were really captured
    assert [text for text in shown if holds_secret(text, KNOWN_KEY)] == []
    written = files_under(tmp_path)
    assert any(p.name.startswith(".videoagent-batch") for p in written)  # the journal
    assert [p for p in written if holds_secret(p.read_bytes(), KNOWN_KEY)] == []
    assert downloads
    assert not any(d.authorization for d in downloads)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the ``videoagent`` command with output captured."""
    return subprocess.run(
        [VIDEOAGENT, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


def test_cli_output_never_holds_the_key(tmp_path: Path) -> None:
    """CLI batch, get, account and a wrong key, verbose: stdout, stderr and files are key-free."""
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("one clip\ntwo clips\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAGENT_")}
    with BackgroundSimulator(time_scale=0.002, seed=9, durations=FAST, api_key=KNOWN_KEY) as sim:
        env.update(VIDEOAGENT_BASE_URL=sim.base_url, VIDEOAGENT_TIME_SCALE="0.002")
        runs = [
            run_cli("batch", str(briefs), "--out", str(tmp_path / "v"), "--verbose",
                    env={**env, "VIDEOAGENT_API_KEY": KNOWN_KEY}),
            run_cli("get", "prj_doesnotexist00", "--verbose", "--api-key", KNOWN_KEY, env=env),
            run_cli("account", "--json", "--verbose", env={**env, "VIDEOAGENT_API_KEY": KNOWN_KEY}),
            run_cli("account", "--verbose",
                    env={**env, "VIDEOAGENT_API_KEY": KNOWN_KEY[:-4] + "nope"}),
            run_cli("keys", "list", "--verbose", env={**env, "VIDEOAGENT_API_KEY": KNOWN_KEY}),
        ]  # fmt: skip
    assert [r.returncode for r in runs] == [0, 1, 0, 1, 0], [r.stderr for r in runs]
    assert "POST /projects" in runs[0].stderr  # verbose really logged the requests
    printed = [r.stdout + r.stderr for r in runs]
    assert [text for text in printed if holds_secret(text, KNOWN_KEY)] == []
    assert not any(holds_secret(text, KNOWN_KEY[:-4] + "nope") for text in printed)
    assert [p for p in files_under(tmp_path) if holds_secret(p.read_bytes(), KNOWN_KEY)] == []


# -- downloads ------------------------------------------------------------------------


def serve_result(server: OddServer, path: str, data: bytes = VIDEO) -> None:
    """Serve /result pointing at ``path`` on the same server (or a full URL)."""

    async def result(_: aiohttp.web.Request) -> aiohttp.web.Response:
        url = path if "://" in path else server.url + path
        return aiohttp.web.json_response(
            {"project_id": PROJECT_ID, "video_url": url, "expires_at": "2026-12-01T10:00:00Z",
             "resolution": "1080p", "size_bytes": len(data),
             "sha256": hashlib.sha256(data).hexdigest()}
        )  # fmt: skip

    server.route("GET", f"/v1/projects/{PROJECT_ID}/result", result)


async def test_no_credentials_across_a_chain_of_every_redirect_kind(
    odd_server: OddServer, tmp_path: Path
) -> None:
    """301, 302, 303, 307 and 308 hops across two origins: Authorization is never sent."""
    seen: list[tuple[str, str | None]] = []
    hops = [301, 302, 303, 307, 308]

    async def hop(request: aiohttp.web.Request) -> aiohttp.web.Response:
        n = int(request.match_info["n"])
        seen.append((request.path, request.headers.get("Authorization")))
        if n == len(hops):
            return aiohttp.web.Response(body=VIDEO, content_type="video/mp4")
        host = "localhost" if n % 2 else "127.0.0.1"  # alternate origins
        target = f"{odd_server.url.replace('127.0.0.1', host)}/hop/{n + 1}"
        return aiohttp.web.Response(status=hops[n], headers={"Location": target})

    odd_server.route("GET", "/hop/{n}", hop)
    serve_result(odd_server, "/hop/0?sig=abc")
    base_url = await odd_server.start()
    async with AsyncVideoAgent(KNOWN_KEY, base_url, time_scale=0.001) as client:
        path = await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert path.read_bytes() == VIDEO
    assert [p for p, _ in seen] == [f"/hop/{n}" for n in range(len(hops) + 1)]
    assert [auth for _, auth in seen] == [None] * (len(hops) + 1)
    api = [r for r in odd_server.requests if r.path.startswith("/v1/")]
    assert all(r.headers["Authorization"] == f"Bearer {KNOWN_KEY}" for r in api)


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/video.mp4", "data:video/mp4;base64,AAAA",
     "javascript:alert(1)", "gopher://127.0.0.1:70/x", "http://[::1"],
)  # fmt: skip
async def test_redirects_to_other_schemes_are_refused(
    odd_server: OddServer, tmp_path: Path, location: str
) -> None:
    """A redirect to file:, ftp:, data:, javascript:, gopher: or a malformed URL: DownloadError."""

    async def redirect(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=302, headers={"Location": location})

    odd_server.route("GET", "/signed", redirect)
    serve_result(odd_server, "/signed")
    async with AsyncVideoAgent(KNOWN_KEY, await odd_server.start(), time_scale=0.001) as client:
        with pytest.raises(DownloadError):
            await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    assert files_under(tmp_path) == []
    assert [r.path for r in odd_server.requests].count("/signed") == 1  # refused, not retried


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1."""
    return self_signed_tls(tmp_path)


async def test_no_redirect_from_https_down_to_http(
    odd_server: OddServer, tmp_path: Path, tls_context: ssl.SSLContext
) -> None:
    """A pre-signed https URL redirecting to plain http is refused before the http hop."""
    plain_hits: list[str] = []

    async def plain(request: aiohttp.web.Request) -> aiohttp.web.Response:
        plain_hits.append(request.path)
        return aiohttp.web.Response(body=VIDEO)

    async def secure(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=302, headers={"Location": f"{odd_server.url}/plain"})

    odd_server.route("GET", "/plain", plain)
    tls_app = aiohttp.web.Application()
    tls_app.router.add_get("/signed", secure)
    runner = aiohttp.web.AppRunner(tls_app, access_log=None)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context)
    await site.start()
    try:
        serve_result(odd_server, f"https://127.0.0.1:{runner.addresses[0][1]}/signed")
        base_url = await odd_server.start()
        insecure_tls = aiohttp.TCPConnector(ssl=False)  # the test's self-signed certificate
        async with (
            aiohttp.ClientSession(connector=insecure_tls) as session,
            AsyncVideoAgent(KNOWN_KEY, base_url, time_scale=0.001, session=session) as client,
        ):
            with pytest.raises(DownloadError, match="https down to plain http"):
                await client.projects.download(PROJECT_ID, tmp_path / "v.mp4")
    finally:
        await runner.cleanup()
    assert plain_hits == []


# -- the base URL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["http://api.example.com/v1", "http://10.0.0.5:8080/v1", "http://Example.COM/v1"]
)
def test_plain_http_to_a_remote_host_warns(base_url: str) -> None:
    """A plain-http base URL off loopback warns (the key would travel in clear), naming no key."""
    with pytest.warns(InsecureBaseURLWarning, match="in clear") as caught:
        AsyncVideoAgent(KNOWN_KEY, base_url)
    assert not holds_secret(str(caught[0].message), KNOWN_KEY)
    assert caught[0].filename == __file__  # points at the caller's line


@pytest.mark.parametrize(
    "base_url",
    ["https://api.example.com/v1", "http://127.0.0.1:8080/v1", "http://127.9.9.9/v1",
     "http://localhost:8080/v1", "http://[::1]:8080/v1", "http://sim.localhost/v1"],
)  # fmt: skip
def test_https_and_loopback_do_not_warn(base_url: str) -> None:
    """https anywhere and plain http on loopback give no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AsyncVideoAgent(KNOWN_KEY, base_url)


def test_allow_insecure_is_the_explicit_opt_in() -> None:
    """allow_insecure=True accepts a plain-http remote base URL without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = AsyncVideoAgent(KNOWN_KEY, "http://10.0.0.5/v1", allow_insecure=True)
    assert client.base_url == "http://10.0.0.5/v1"


async def test_https_api_refuses_plain_webhooks_before_sending() -> None:
    """An https API with an http webhook_url: InvalidRequestError, and no connection attempted."""
    async with AsyncVideoAgent(KNOWN_KEY, "https://127.0.0.1:9/v1", max_retries=0) as client:
        with pytest.raises(InvalidRequestError, match="webhook_url must use https"):
            await client.projects.create("clip", webhook_url="http://example.com/hook")


# -- webhook verification core ----------------------------------------------------------

SECRET = "whsec_" + "s" * 32
BODY = (b'{"id": "evt_1", "type": "project.status_changed", "project_id": "prj_abcdefgh12", '
        b'"status": "idle", "created_at": "2026-11-30T10:00:00Z"}')  # fmt: skip


def headers_for(body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    """Signed webhook headers for ``body`` at ``stamp``."""
    return {
        "X-Webhook-Timestamp": str(stamp),
        "X-Webhook-Signature": sign(secret, str(stamp), body),
    }


def test_signatures_are_compared_in_constant_time_with_no_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each offered signature meets each secret in hmac.compare_digest, even after a match."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stamp = 1_700_000_000
    good = sign(SECRET, str(stamp), BODY)
    offered = f"{good},v1={'0' * 64}"
    assert verify_signature([SECRET, "whsec_other"], body=BODY, timestamp=str(stamp),
                            signature=offered, now=stamp) == stamp  # fmt: skip
    assert len(calls) == 4  # 2 offered x 2 secrets, no early exit
    calls.clear()
    with pytest.raises(WebhookError) as info:
        verify_signature(SECRET, body=BODY, timestamp=str(stamp), signature="v1=" + "f" * 64,
                         now=stamp)  # fmt: skip
    assert (info.value.status, info.value.reason) == (401, "bad_signature")
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("offset", "passes"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (10**6, False)],
)
def test_the_timestamp_window(offset: int, passes: bool) -> None:
    """A stamp within 300 s either way passes; beyond it is refused as stale (401)."""
    now = 1_700_000_000.0
    verifier = WebhookVerifier(SECRET, clock=lambda: now)
    headers = headers_for(BODY, int(now) + offset)
    if passes:
        assert verifier.verify(headers, BODY).project_id == PROJECT_ID
    else:
        with pytest.raises(WebhookError) as info:
            verifier.verify(headers, BODY)
        assert (info.value.status, info.value.reason) == (401, "stale")


def test_a_replay_is_refused_even_with_a_fresh_signature() -> None:
    """The same signed event id a second time is refused (409), also re-signed later."""
    clock = [1_700_000_000.0]
    verifier = WebhookVerifier(SECRET, clock=lambda: clock[0])
    assert verifier.verify(headers_for(BODY, int(clock[0])), BODY).id == "evt_1"
    for delay in (0, 1, 120):
        clock[0] += delay
        with pytest.raises(WebhookError) as info:
            verifier.verify(headers_for(BODY, int(clock[0])), BODY)
        assert (info.value.status, info.value.reason) == (409, "replayed")


def test_a_huge_signed_timestamp_is_a_webhook_error() -> None:
    """A correctly signed but absurd timestamp (4,000 digits) is a 400, not an OverflowError."""
    stamp = "9" * 4000
    with pytest.raises(WebhookError, match="not unix seconds"):
        verify_signature(SECRET, body=BODY, timestamp=stamp, signature=sign(SECRET, stamp, BODY),
                         now=time.time())  # fmt: skip
