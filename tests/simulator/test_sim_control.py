"""The ``/_sim/`` control routes: the same controls as the Python interface, over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
from sim_helpers import Api

from videoagent.simulator import Simulator
from videoagent.simulator._control import _is_loopback


class Control:
    """Calls ``/_sim/`` routes of one simulator."""

    def __init__(self, session: aiohttp.ClientSession, simulator: Simulator) -> None:
        self.session = session
        self.root = simulator.base_url.removesuffix("/v1") + "/_sim"

    async def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.root + path, json=body) as answer:
            return answer.status, await answer.json()


async def test_accounts_keys_and_stats(
    simulator: Simulator, session: aiohttp.ClientSession, api: Api
) -> None:
    """POST /_sim/accounts and /_sim/keys make working keys; /_sim/stats and /projects report."""
    control = Control(session, simulator)
    status, made = await control("POST", "/accounts", {"credits": 75, "plan": "pro"})
    assert status == 201
    assert made["account_id"].startswith("acct_")
    pro = api.as_key(made["api_key"])
    account = (await pro.get("/account")).body
    assert (account["credits"], account["plan"]) == (75, "pro")
    status, extra = await control("POST", "/keys", {"api_key": made["api_key"], "name": "ci"})
    assert status == 201
    await api.as_key(extra["api_key"]).create()
    status, stats = await control("GET", f"/stats?api_key={made['api_key']}")
    assert (status, stats["requests"], stats["projects_created"]) == (200, 2, 1)
    status, projects = await control("GET", f"/projects?api_key={extra['api_key']}")
    assert [p["brief"] for p in projects["data"]] == ["a 20 s teaser"]


async def test_faults_clock_log_secret_and_fail(
    simulator: Simulator, session: aiohttp.ClientSession, api: Api
) -> None:
    """Faults, clock, request log, webhook secret and fail-project routes do what they say."""
    control = Control(session, simulator)
    status, faults = await control("PUT", "/faults", {"error_503": 1.0, "retry_after": 3})
    assert (status, faults["error_503"], faults["retry_after"]) == (200, 1.0, 3)
    assert (await api.get("/account")).status == 503
    await control("PUT", "/faults", {})
    project_id = (await api.create())["id"]
    _, before = await control("GET", "/clock")
    _, after = await control("POST", "/clock/advance", {"seconds": 30})
    assert after["virtual"] - before["virtual"] >= 30
    assert before["time_scale"] == simulator.time_scale
    status, failed = await control("POST", f"/projects/{project_id}/fail")
    assert (status, failed["project_id"]) == (200, project_id)
    await control("POST", "/clock/advance", {"seconds": 1000})
    assert (await api.project(project_id))["status"] == "failed"
    _, log = await control("GET", "/requests?offset=1")
    assert [entry["status"] for entry in log["data"]] == [202, 200]
    assert log["next_offset"] == 3
    _, secret = await control("GET", "/webhook-secret")
    assert secret == {"webhook_secret": simulator.webhook_secret}
    _, deliveries = await control("GET", "/webhooks")
    assert deliveries == {"data": []}


async def test_bad_control_input_answers_400(
    simulator: Simulator, session: aiohttp.ClientSession
) -> None:
    """Unknown fault names, bad rates, unknown projects and bad plans answer 400."""
    control = Control(session, simulator)
    assert (await control("PUT", "/faults", {"earthquake": 1.0}))[0] == 400
    assert (await control("PUT", "/faults", {"drop": 2.0}))[0] == 400
    assert (await control("POST", "/projects/prj_nothing12345/fail"))[0] == 400
    assert (await control("POST", "/accounts", {"plan": "gold"}))[0] == 400
    assert (await control("POST", "/clock/advance", {"seconds": -1}))[0] == 400


def test_only_loopback_callers_are_served() -> None:
    """The control routes answer loopback addresses only."""
    assert _is_loopback("127.0.0.1")
    assert _is_loopback("::1")
    assert not _is_loopback("10.0.0.7")
    assert not _is_loopback(None)
    assert not _is_loopback("not an address")


async def test_control_routes_never_appear_under_v1(api: Api) -> None:
    """/v1/_sim/... is not a route: 404 in the API's error format."""
    reply = await api.get("/_sim/stats")
    assert (reply.status, reply.code) == (404, "not_found")
