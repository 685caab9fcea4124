"""Fault injection, the request log and X-Request-Id on every answer."""

from __future__ import annotations

import aiohttp
import pytest
from sim_helpers import Api, MakeApi

from videoagent.simulator import Faults, Simulator


async def _raw(api: Api, path: str = "/account") -> tuple[int, str] | str:
    """Status and text of a GET, or the name of the client error it raised."""
    try:
        async with api.session.get(
            api.base_url + path,
            headers={"Authorization": f"Bearer {api.api_key}"},
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as answer:
            return answer.status, await answer.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("drop", "ServerDisconnectedError"),
        ("truncate", "ClientPayloadError"),
        ("slow", "TimeoutError"),
    ],
)
async def test_transport_faults(make_api: MakeApi, kind: str, expected: str) -> None:
    """Dropped connections, truncated bodies and slow answers reach the client as such."""
    sim, api = await make_api(time_scale=0.01)
    sim.set_faults(**{kind: 1.0}, slow_seconds=100.0)
    assert await _raw(api) == expected
    sim.set_faults()
    assert (await _raw(api))[0] == 200  # type: ignore[index]


async def test_error_and_non_json_faults(make_api: MakeApi) -> None:
    """Injected 500 and 503 use the error format (503 with Retry-After); non_json sends HTML."""
    sim, api = await make_api()
    sim.set_faults(error_503=1.0, retry_after=7)
    unavailable = await api.get("/account")
    assert (unavailable.status, unavailable.code) == (503, "service_unavailable")
    assert unavailable.headers["Retry-After"] == "7"
    sim.set_faults(error_500=1.0)
    assert (await api.get("/account")).code == "internal_error"
    sim.set_faults(non_json=1.0)
    status, text = await _raw(api)  # type: ignore[misc]
    assert status == 200
    assert text.startswith("<html>")


async def test_faults_without_effect_and_with_effect(make_api: MakeApi) -> None:
    """A 500 creates nothing; a dropped create still creates the project (answer lost)."""
    sim, api = await make_api()
    sim.set_faults(error_500=1.0)
    await api.call("POST", "/projects", json={"brief": "lost"})
    assert sim.projects() == ()
    sim.set_faults(drop=1.0)
    with pytest.raises(aiohttp.ClientError):
        await api.session.post(
            api.base_url + "/projects",
            json={"brief": "kept"},
            headers={"Authorization": f"Bearer {api.api_key}"},
        )
    assert [p.brief for p in sim.projects()] == ["kept"]


async def test_faults_are_seeded(make_api: MakeApi) -> None:
    """The same seed and rates inject the same faults on the same request sequence."""
    runs = []
    for _ in range(2):
        sim, api = await make_api(seed=42, request_limit=None)
        sim.set_faults(Faults(error_500=0.3, error_503=0.3))
        runs.append([(await api.get("/account")).status for _ in range(40)])
    assert runs[0] == runs[1]
    assert {200, 500, 503} <= set(runs[0])


def test_fault_rates_are_checked() -> None:
    """Rates outside 0..1, or adding up past 1, are refused."""
    with pytest.raises(ValueError, match=r"0\.\.1"):
        Faults(drop=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(drop=0.6, slow=0.6)


async def test_request_log_and_request_ids(simulator: Simulator, api: Api) -> None:
    """Every answer has a unique X-Request-Id, also in its error body; the log has each request."""
    replies = [
        await api.get("/account"),
        await api.get("/projects/prj_missing0000000"),
        await api.get("/account", auth=False),
        await api.post("/projects", {"brief": 3}),
    ]
    ids = [reply.headers["X-Request-Id"] for reply in replies]
    assert len(set(ids)) == 4
    log = simulator.request_log
    assert [record.request_id for record in log] == ids
    assert [record.status for record in log] == [200, 404, 401, 400]
    assert [record.code for record in log] == [
        None,
        "not_found",
        "unauthorized",
        "validation_error",
    ]
    assert log[2].account is None
    assert not log[2].counted
    assert log[0].account == log[1].account
    assert log[1].path == "/v1/projects/prj_missing0000000"


async def test_faults_can_target_one_route_a_set_number_of_times(make_api: MakeApi) -> None:
    """Faults(only=..., count=1) drops exactly the next create and nothing else."""
    sim, api = await make_api()
    sim.set_faults(drop=1.0, only="POST /v1/projects", count=1)
    assert (await api.get("/account")).status == 200
    with pytest.raises(aiohttp.ClientError):
        await api.session.post(
            api.base_url + "/projects",
            json={"brief": "dropped answer"},
            headers={"Authorization": f"Bearer {api.api_key}"},
        )
    assert (await api.post("/projects", {"brief": "fine"})).status == 202
    assert sim.stats().faults_injected == 1
    assert [record.fault for record in sim.request_log] == [None, "drop", None]
