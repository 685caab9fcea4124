"""Bad input gets the contract's error body and status, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import Api, MakeApi, spec
from yarl import URL

from videoagent.simulator import Simulator
from videoagent.simulator._faults import FAULT_KINDS


async def _expect(reply_coro: Any, status: int, code: str) -> str:
    reply = await reply_coro
    assert (reply.status, reply.code) == (status, code), reply
    message: str = reply.body["error"]["message"]
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[1, 2", b'{"brief": NaN}', b"\xff\xfe\x00", b"", b"[" * 100_000],
)
async def test_malformed_json_answers_400(api: Api, raw: bytes) -> None:
    """A body that is not JSON (or is empty, or absurdly nested) answers 400 validation_error."""
    message = await _expect(
        api.call("POST", "/projects", data=raw, headers={"Content-Type": "application/json"}),
        400,
        "validation_error",
    )
    assert message.startswith("body: ")


async def test_validation_message_lists_each_field(api: Api) -> None:
    """Each bad field appears as 'field: reason', joined by '; ' (the vendor's example)."""
    message = await _expect(api.post("/projects", {"mode": "fast"}), 400, "validation_error")
    assert message == "brief: brief is required; mode: mode must be autonomous or collaborative"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"brief": 42}, "brief"),
        ({"brief": ""}, "brief"),
        ({"brief": "x" * 20_001}, "brief"),
        ({"brief": "ok", "mode": 1}, "mode"),
        ({"brief": "ok", "idempotency_key": ""}, "idempotency_key"),
        ({"brief": "ok", "webhook_url": "not a url"}, "webhook_url"),
        ({"brief": "ok", "webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ({"brief": "ok", "metadata": {"a": 1}}, "metadata.a"),
        ({"brief": "ok", "metadata": {str(n): "v" for n in range(21)}}, "metadata"),
        ({"brief": "ok", "metadata": []}, "metadata"),
        ({"brief": "ok", "colour": "red"}, "colour"),
        (["brief"], "body"),
        ("brief", "body"),
        (None, "body"),
    ],
)
async def test_wrong_types_and_unknown_fields_answer_400(api: Api, body: Any, field: str) -> None:
    """Wrong types, bounds and unknown fields of a create answer 400 naming the field."""
    message = await _expect(
        api.call("POST", "/projects", data=json.dumps(body)), 400, "validation_error"
    )
    assert message.startswith(f"{field}: ")


async def test_other_bodies_are_validated_too(simulator: Simulator, api: Api) -> None:
    """Message, settings, render and key bodies answer 400 on bad fields."""
    project_id = (await api.create())["id"]
    simulator.advance(1500)
    base = f"/projects/{project_id}"
    cases = [
        ("POST", f"{base}/messages", {"content": ""}),
        ("POST", f"{base}/messages", {"content": "ok", "extra": 1}),
        ("PATCH", f"{base}/settings", {}),
        ("PATCH", f"{base}/settings", {"mode": "turbo"}),
        ("PATCH", f"{base}/settings", {"webhook": "x"}),
        ("POST", f"{base}/render", {"resolution": "8k"}),
        ("POST", "/api-keys", {"name": ""}),
        ("POST", "/api-keys", {}),
    ]
    for method, path, body in cases:
        await _expect(api.call(method, path, json=body), 400, "validation_error")


async def test_settings_accept_a_null_webhook(simulator: Simulator, api: Api) -> None:
    """PATCH settings with webhook_url null clears the webhook."""
    project_id = (await api.create(webhook_url="http://127.0.0.1:9/hook"))["id"]
    reply = await api.call("PATCH", f"/projects/{project_id}/settings", json={"webhook_url": None})
    assert (reply.status, reply.body["webhook_url"]) == (200, None)


async def test_bodies_over_one_mib_answer_413(api: Api) -> None:
    """A body over 1 MiB answers 413 whether or not it declares its length, and 1 MiB passes."""
    big = json.dumps({"brief": "x" * (1 << 20)}).encode()
    await _expect(api.call("POST", "/projects", data=io.BytesIO(big)), 413, "payload_too_large")

    async def chunked() -> Any:
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    await _expect(api.call("POST", "/projects", data=chunked()), 413, "payload_too_large")
    exact = b'{"brief": "x"}' + b" " * ((1 << 20) - 14)
    assert len(exact) == 1 << 20
    assert (await api.call("POST", "/projects", data=io.BytesIO(exact))).status == 202


@pytest.mark.parametrize(
    "project_id",
    [
        "..%2F..%2Faccount",
        "%2E%2E",
        "prj_" + "a" * 5_000,
        "prj_caf%C3%A9caf%C3%A9",
        "prj_%F0%9F%8E%AC%F0%9F%8E%AC",
        "msg_abcdefgh12345678",
        "prj_abc%00def",
        "prj_doesnotexist00",
    ],
)
async def test_bad_project_ids_answer_404(api: Api, project_id: str) -> None:
    """Traversal, very long, unicode and wrong-prefix ids answer 404 not_found."""
    for method, suffix in [
        ("GET", ""),
        ("GET", "/messages"),
        ("POST", "/cancel"),
        ("GET", "/result"),
    ]:
        url = api.base_url + f"/projects/{project_id}{suffix}"
        async with api.session.request(
            method, URL(url, encoded=True), headers={"Authorization": f"Bearer {api.api_key}"}
        ) as answer:
            body = await answer.json()
            assert answer.status == 404, (url, body)
            assert body["error"]["code"] == "not_found"


async def test_another_accounts_project_is_not_found(simulator: Simulator, api: Api) -> None:
    """A project of another account answers 404, not 403 (its existence is not disclosed)."""
    project_id = (await api.create())["id"]
    stranger = api.as_key(simulator.add_account())
    reply = await stranger.get(f"/projects/{project_id}")
    assert (reply.status, reply.code) == (404, "not_found")


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer es_live_wrong", "Basic abc", "bearer  "]
)
async def test_missing_or_wrong_keys_answer_401(api: Api, header: str | None) -> None:
    """No key, a wrong key or another scheme answers 401 unauthorized."""
    headers = {} if header is None else {"Authorization": header}
    reply = await api.call("GET", "/account", headers=headers, auth=False)
    assert (reply.status, reply.code) == (401, "unauthorized")


async def test_unknown_routes_and_methods(api: Api) -> None:
    """Unknown paths and methods a path lacks answer 404 not_found (no 405 in the vendor table)."""
    missing = await api.get("/nothing/here")
    assert (missing.status, missing.code) == (404, "not_found")
    for method, path in (("DELETE", "/account"), ("DELETE", "/projects"), ("PUT", "/api-keys")):
        wrong = await api.call(method, path)
        assert (wrong.status, wrong.code) == (404, "not_found"), (method, path)
    assert "GET" in wrong.headers["Allow"]  # a hint of what the path does allow


async def test_every_method_a_path_lacks_answers_404(make_api: MakeApi) -> None:
    """Each method the OpenAPI copy does not give a path answers 404 not_found, never 405."""
    _, api = await make_api(request_limit=None)
    filled = {"{project_id}": "prj_abcdefgh12", "{key_id}": "key_abcdefgh12"}
    tried = 0
    for template, item in spec()["paths"].items():
        path = template
        for placeholder, value in filled.items():
            path = path.replace(placeholder, value)
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            if method.lower() in item:
                continue
            reply = await api.call(method, path)
            assert (reply.status, reply.code) == (404, "not_found"), (method, path)
            tried += 1
    assert tried >= 30


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
create_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "brief": json_values | st.text(max_size=50),
            "mode": json_values | st.sampled_from(["autonomous", "collaborative"]),
            "idempotency_key": json_values,
            "webhook_url": json_values,
            "metadata": json_values,
        },
    )
    | json_values
)


def test_random_bodies_never_cause_a_5xx() -> None:
    """Hypothesis-made create and message bodies get 2xx or 4xx, always in the contract's format."""

    async def check_all(bodies: list[Any]) -> None:
        async with (
            Simulator(time_scale=0.01, seed=3, request_limit=None, active_limit=None) as sim,
            aiohttp.ClientSession() as session,
        ):
            api = Api(session, sim.base_url, sim.api_key, limited=False)
            for body in bodies:
                for path in ("/projects", "/projects/prj_unknown000000/messages"):
                    reply = await api.call("POST", path, data=json.dumps(body))
                    assert reply.status < 500

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(create_bodies, min_size=1, max_size=5))
    def run(bodies: list[Any]) -> None:
        asyncio.run(check_all(bodies))

    run()


async def test_oversized_bodies_are_refused_on_every_route(simulator: Simulator, api: Api) -> None:
    """A declared body over 1 MiB answers 413 even where the route reads no body."""
    project_id = (await api.create())["id"]
    big = io.BytesIO(b" " * ((1 << 20) + 1))
    reply = await api.call("POST", f"/projects/{project_id}/cancel", data=big)
    assert (reply.status, reply.code) == (413, "payload_too_large")
    assert (await api.project(project_id))["status"] == "queued"


#: Bodies that are not a JSON object: broken, non-UTF-8, nested past any recursion limit.
NOT_AN_OBJECT = [
    b"{",
    b"not json",
    b"\xff\xfe\x00",
    b'{"brief": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate: not valid UTF-8
    b'{"brief": NaN}',
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"1" * 5_000,  # more digits than Python turns into an int
    b"[]",
    b"5",
    b'"text"',
    b"null",
]


async def _body_routes(simulator: Simulator, api: Api) -> list[tuple[str, str]]:
    """Every route that reads a JSON body: the API's and the simulator's control routes."""
    project_id = (await api.create())["id"]
    simulator.advance(1500)
    return [
        ("POST", "/v1/projects"),
        ("POST", f"/v1/projects/{project_id}/messages"),
        ("PATCH", f"/v1/projects/{project_id}/settings"),
        ("POST", f"/v1/projects/{project_id}/render"),
        ("POST", "/v1/api-keys"),
        ("POST", "/_sim/accounts"),
        ("POST", "/_sim/keys"),
        ("PUT", "/_sim/faults"),
        ("POST", "/_sim/clock/advance"),
    ]


def _assert_error(status: int, headers: Any, body: Any, code: str = "validation_error") -> None:
    """The contract's error format: status of the code, message, request id as in the header."""
    assert (status, body["error"]["code"]) == (400 if code == "validation_error" else status, code)
    assert body["error"]["request_id"] == headers["X-Request-Id"]
    assert body["error"]["request_id"].startswith("req_")
    assert isinstance(body["error"]["message"], str)
    assert "Traceback" not in body["error"]["message"]


async def test_every_body_route_answers_400_to_what_is_not_a_json_object(
    make_api: MakeApi, session: aiohttp.ClientSession
) -> None:
    """Broken, non-UTF-8, absurdly nested and non-object JSON is a 400 on every route, never 5xx."""
    sim, api = await make_api(request_limit=None, active_limit=None)
    root = sim.base_url.removesuffix("/v1")
    auth = {"Authorization": f"Bearer {sim.api_key}", "Content-Type": "application/json"}
    for method, path in await _body_routes(sim, api):
        for raw in NOT_AN_OBJECT:
            async with session.request(method, root + path, data=raw, headers=auth) as answer:
                body = await answer.json()
                assert answer.status == 400, (method, path, raw[:12], body)
                _assert_error(answer.status, answer.headers, body)
    assert (await api.get("/account")).status == 200  # the simulator is still well


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/_sim/accounts", {"credits": "x"}, "credits"),
        ("/_sim/accounts", {"credits": True}, "credits"),
        ("/_sim/accounts", {"credits": 1.5}, "credits"),
        ("/_sim/accounts", {"credits": -5}, "credits"),
        ("/_sim/accounts", {"credits": None}, "credits"),
        ("/_sim/accounts", {"plan": 5}, "plan"),
        ("/_sim/accounts", {"api_key": 5}, "api_key"),
        ("/_sim/accounts", {"api_key": ""}, "api_key"),
        ("/_sim/accounts", {"webhook_secret": ["s"]}, "webhook_secret"),
        ("/_sim/accounts", {"colour": "red"}, "colour"),
        ("/_sim/keys", {}, "api_key"),
        ("/_sim/keys", {"api_key": 5}, "api_key"),
        ("/_sim/keys", {"api_key": [1]}, "api_key"),
        ("/_sim/keys", {"api_key": "es_live_nobody"}, "api_key"),
        ("/_sim/clock/advance", {}, "seconds"),
        ("/_sim/clock/advance", {"seconds": "abc"}, "seconds"),
        ("/_sim/clock/advance", {"seconds": "nan"}, "seconds"),
        ("/_sim/clock/advance", {"seconds": None}, "seconds"),
        ("/_sim/clock/advance", {"seconds": True}, "seconds"),
        ("/_sim/clock/advance", {"seconds": -1}, "seconds"),
        ("/_sim/clock/advance", {"seconds": 1e308}, "seconds"),
        ("/_sim/faults", {"drop": "x"}, "drop"),
        ("/_sim/faults", {"drop": None}, "drop"),
        ("/_sim/faults", {"drop": True}, "drop"),
        ("/_sim/faults", {"drop": 2.0}, "drop"),
        ("/_sim/faults", {"retry_after": "x"}, "retry_after"),
        ("/_sim/faults", {"slow_seconds": "x"}, "slow_seconds"),
        ("/_sim/faults", {"only": 5}, "only"),
        ("/_sim/faults", {"count": -1}, "count"),
        ("/_sim/faults", {"earthquake": 1.0}, "earthquake"),
        ("/_sim/faults", {"drop": 0.6, "slow": 0.6}, "body"),
    ],
)
async def test_control_bodies_of_the_wrong_type_answer_400(
    simulator: Simulator, session: aiohttp.ClientSession, path: str, body: Any, field: str
) -> None:
    """A control body with a wrong type or value answers 400 naming the field; nothing changes."""
    root = simulator.base_url.removesuffix("/v1")
    method = "PUT" if path == "/_sim/faults" else "POST"
    async with session.request(method, root + path, json=body) as answer:
        reply = await answer.json()
        _assert_error(answer.status, answer.headers, reply)
    assert reply["error"]["message"].startswith(f"{field}: "), reply
    assert simulator.stats().accounts == 1
    async with session.get(root + "/_sim/faults") as answer:
        faults = await answer.json()
    assert not any(faults[kind] for kind in FAULT_KINDS)
    api = Api(session, simulator.base_url, simulator.api_key)
    assert (await api.get("/account")).status == 200  # the clock still works


@pytest.mark.parametrize(
    "query",
    ["/requests?offset=abc", "/requests?offset=-3", "/stats?api_key=nope", "/projects?api_key=no"],
)
async def test_control_queries_of_the_wrong_kind_answer_400(
    simulator: Simulator, session: aiohttp.ClientSession, query: str
) -> None:
    """A bad offset or an unknown key in a control query answers 400 in the error format."""
    async with session.get(simulator.base_url.removesuffix("/v1") + "/_sim" + query) as answer:
        _assert_error(answer.status, answer.headers, await answer.json())


async def test_unknown_control_routes_answer_in_the_error_format(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """An unknown /_sim/ path or method answers 404 not_found in the contract's format."""
    root = simulator.base_url.removesuffix("/v1")
    for method, path in (("GET", "/_sim/nothing"), ("DELETE", "/_sim/stats")):
        async with session.request(method, root + path) as answer:
            _assert_error(answer.status, answer.headers, await answer.json(), "not_found")
