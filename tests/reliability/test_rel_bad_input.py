"""Bad input: arbitrary answers only raise the SDK's errors; bad arguments send nothing."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import aiohttp.web
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odd_server import OddServer
from rel_helpers import FAST, KNOWN_KEY, SCALE, bad_videos, files_under

from videoagent import (
    Account,
    APIError,
    ApiKey,
    AsyncVideoAgent,
    InvalidRequestError,
    Limits,
    Message,
    Result,
    VideoAgentError,
)
from videoagent._converter import structure, structure_project
from videoagent._models import ApiKeyCreated, MessageAccepted, MessagePage, ProjectPage
from videoagent.batch import run_batch, safe_file_name
from videoagent.simulator import Simulator

MODELS = [Account, ApiKey, ApiKeyCreated, Message, MessageAccepted, MessagePage, ProjectPage,
          Result]  # fmt: skip
PROJECT: dict[str, Any] = {
    "id": "prj_abcdefgh12",
    "object": "project",
    "status": "running",
    "mode": "autonomous",
    "brief": "a teaser",
    "created_at": "2026-11-30T10:00:00Z",
    "updated_at": "2026-11-30T10:00:05.123456789Z",
    "agent_message": None,
    "error_message": None,
    "progress": 0.5,
    "webhook_url": None,
    "metadata": {},
    "has_result": False,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "Z", "2026-13-45T99:99:99Z", "9999-12-31T23:59:59+23:59", "prj_x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=5),
    max_leaves=20,
)  # fmt: skip


def only_sdk_errors(parse: Any, data: Any) -> None:
    """``parse(data)`` returns, or raises a VideoAgentError (an APIResponseError)."""
    with contextlib.suppress(VideoAgentError):
        parse(data)


@settings(max_examples=300, deadline=None)
@given(data=json_values)
def test_any_json_shape_parses_or_raises_an_sdk_error(data: Any) -> None:
    """Any JSON value, as any model, is a model or an APIResponseError: never KeyError/TypeError."""
    only_sdk_errors(structure_project, data)
    for model in MODELS:
        only_sdk_errors(lambda d, m=model: structure(d, m), data)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(sorted(PROJECT)), json_values, min_size=1, max_size=4),
    drop=st.sets(st.sampled_from(sorted(PROJECT)), max_size=3),
)
def test_a_project_with_any_field_changed_or_missing(
    changes: dict[str, Any], drop: set[str]
) -> None:
    """A project answer with fields replaced by arbitrary JSON or removed never escapes the tree."""
    data = {k: v for k, v in {**PROJECT, **changes}.items() if k not in drop}
    only_sdk_errors(structure_project, data)
    only_sdk_errors(lambda d: structure(d, ProjectPage), {"data": [data], "has_more": False})
    only_sdk_errors(
        lambda d: structure(d, MessageAccepted),
        {"message": {"id": "msg_1", "project_id": "prj_1", "role": "user", "content": "x",
                     "created_at": "2026-11-30T10:00:00Z"}, "project": data},
    )  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust the recursion limit
        b'{"credits": 1' + b"0" * 5000 + b"}",  # an integer past Python's digit limit
        b"\xff\xfe not utf-8",
        b'{"credits": NaN, "plan": "free"}',
        b"null",
        b'"just a string"',
    ],
)
async def test_garbled_answers_over_the_wire(odd_server: OddServer, body: bytes) -> None:
    """Absurd bodies, as success or as error answers, raise APIError subclasses only."""

    async def odd(request: aiohttp.web.Request) -> aiohttp.web.Response:
        status = 200 if request.path.endswith("account") else 500
        return aiohttp.web.Response(body=body, status=status, content_type="application/json")

    odd_server.route("GET", "/v1/account", odd)
    odd_server.route("GET", "/v1/api-keys", odd)
    base_url = await odd_server.start()
    async with AsyncVideoAgent(
        KNOWN_KEY, base_url, time_scale=0.001, max_retries=1, limits=Limits.unlimited()
    ) as client:
        with pytest.raises(APIError):
            await client.account.get()
        with pytest.raises(APIError):
            await client.api_keys.list()


BAD_CALLS = [
    ("brief", lambda c: c.projects.create("")),
    ("brief", lambda c: c.projects.create("   \n\t")),
    ("brief", lambda c: c.projects.create("x" * 20_001)),
    ("brief", lambda c: c.projects.create(None)),
    ("mode", lambda c: c.projects.create("ok", mode="turbo")),
    ("mode", lambda c: c.projects.update_settings("prj_abcdefgh12", mode="Autonomous")),
    ("metadata", lambda c: c.projects.create("ok", metadata={"k": 5})),
    ("metadata", lambda c: c.projects.create("ok", metadata={str(n): "v" for n in range(21)})),
    ("metadata", lambda c: c.projects.create("ok", metadata={"k": "v" * 501})),
    ("idempotency_key", lambda c: c.projects.create("ok", idempotency_key="")),
    ("idempotency_key", lambda c: c.projects.create("ok", idempotency_key="k" * 256)),
    ("webhook_url", lambda c: c.projects.create("ok", webhook_url="ftp://example.com/hook")),
    ("webhook_url", lambda c: c.projects.create("ok", webhook_url="/relative/hook")),
    ("webhook_url", lambda c: c.projects.create("ok", webhook_url="http://")),
    ("project_id", lambda c: c.projects.get("../account")),
    ("project_id", lambda c: c.projects.get("prj_abc/../../x")),
    ("project_id", lambda c: c.projects.get("prj_a?b=c")),
    ("project_id", lambda c: c.projects.get("")),
    ("project_id", lambda c: c.projects.cancel("msg_abcdefgh")),
    ("project_id", lambda c: c.projects.result("prj_%2e%2e")),
    ("project_id", lambda c: c.projects.download("prj_../x", "out.mp4")),
    ("content", lambda c: c.projects.send_message("prj_abcdefgh12", "")),
    ("content", lambda c: c.projects.send_message("prj_abcdefgh12", "y" * 20_001)),
    ("resolution", lambda c: c.projects.render("prj_abcdefgh12", resolution="8k")),
    ("key_id", lambda c: c.api_keys.revoke("prj_abcdefgh12")),
    ("after", lambda c: anext(aiter(c.projects.messages("prj_abcdefgh12", after="../x")))),
    ("limit", lambda c: anext(aiter(c.projects.list(limit=0)))),
    ("limit", lambda c: anext(aiter(c.projects.messages("prj_abcdefgh12", limit=101)))),
    ("status", lambda c: anext(aiter(c.projects.list(status="done")))),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS)
async def test_bad_arguments_name_the_argument_and_send_nothing(
    simulator: Simulator, client: AsyncVideoAgent, name: str, call: Any
) -> None:
    """Each bad argument is an InvalidRequestError (a ValueError) naming it; no request goes out."""
    with pytest.raises(InvalidRequestError) as info:
        await call(client)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(name)
    assert "nothing was sent" in str(info.value)
    assert len(str(info.value)) < 300  # a 20,001-character brief is not repeated back
    assert simulator.request_log == []


async def test_plain_http_webhooks_are_refused_for_an_https_api(odd_server: OddServer) -> None:
    """With an https base URL, an http webhook_url is refused before sending; https is taken."""
    client = AsyncVideoAgent(KNOWN_KEY, "https://api.example.invalid/v1", max_retries=0)
    async with client:
        with pytest.raises(InvalidRequestError, match="webhook_url must use https"):
            await client.projects.create("ok", webhook_url="http://hooks.example.com/in")
        with pytest.raises(InvalidRequestError, match="webhook_url must use https"):
            await client.projects.update_settings(
                "prj_abcdefgh12", webhook_url="http://hooks.example.com/in"
            )


async def test_http_webhooks_are_fine_for_a_loopback_simulator(
    simulator: Simulator, client: AsyncVideoAgent
) -> None:
    """With the simulator's plain-http base URL, an http webhook_url is accepted and sent."""
    project = await client.projects.create("ok", webhook_url="http://127.0.0.1:9/hook")
    assert project.webhook_url == "http://127.0.0.1:9/hook"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(max_size=120))
def test_any_name_is_a_file_inside_the_folder(name: str) -> None:
    """safe_file_name of any text is a plain, visible .mp4 name that stays in its folder."""
    out = Path("/srv/batch/out")
    file_name = safe_file_name(name)
    assert "/" not in file_name
    assert "\\" not in file_name
    assert "\x00" not in file_name
    assert not file_name.startswith(".")
    assert file_name.endswith(".mp4")
    assert (out / file_name).resolve().parent == out


async def test_a_batch_with_hostile_names_writes_only_inside_out(tmp_path: Path) -> None:
    """Briefs named ../x, /etc/passwd, .hidden or with NULs all land as files inside out."""
    names = ["../../escape", "/etc/passwd", ".videoagent-batch.sqlite", "a/../../b", "..",
             "nul\x00byte", "C:\\Windows\\win.ini", "~/.ssh/id_rsa"]  # fmt: skip
    briefs = [{"brief": f"clip {n}", "name": name} for n, name in enumerate(names)]
    out = tmp_path / "sandbox" / "out"
    async with (
        Simulator(time_scale=SCALE, seed=5, durations=FAST) as sim,
        AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=SCALE) as client,
    ):
        summary = await run_batch(briefs, out=out, client=client)
    assert len(summary.done) == len(names)
    written = files_under(tmp_path)
    assert all(out in path.parents for path in written)
    videos = [p for p in written if p.suffix == ".mp4"]
    assert len(videos) == len(names)
    assert bad_videos(summary.done, out) == []
    assert all(not p.name.startswith(".") for p in videos)
