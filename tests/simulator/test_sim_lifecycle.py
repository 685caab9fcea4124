"""The project lifecycle of CONTRACT.md, over HTTP, in scaled time (advanced by the clock)."""

from __future__ import annotations

import asyncio
import time

from sim_helpers import Api, MakeApi

from videoagent.simulator import Simulator

#: contract seconds past the longest possible phase
PHASE = 500.0
ORDER = ["queued", "running", "generating", "rendering", "idle"]


async def _statuses_until_rest(sim: Simulator, api: Api, project_id: str) -> list[str]:
    """Poll after small clock steps and return the distinct statuses seen, in order."""
    seen: list[str] = []
    for _ in range(400):
        status = (await api.project(project_id))["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("idle", "failed", "cancelled"):
            return seen
        sim.advance(5.0)
    raise AssertionError(f"no rest after {seen}")


async def test_autonomous_runs_through_every_active_status_to_a_result(
    make_api: MakeApi,
) -> None:
    """An autonomous project goes queued, running, generating, rendering, idle with a result."""
    sim, api = await make_api(request_limit=None)
    created = await api.create("a teaser")
    assert created["mode"] == "autonomous"
    assert created["status"] == "queued"
    seen = await _statuses_until_rest(sim, api, created["id"])
    assert seen == ORDER
    done = await api.project(created["id"])
    assert done["has_result"] is True
    assert done["agent_message"]
    assert done["progress"] == 1.0


async def test_phases_last_the_contract_durations_scaled(make_api: MakeApi) -> None:
    """Each phase lasts within the contract's range: not over before its minimum."""
    sim, api = await make_api(request_limit=None, time_scale=1.0)  # real ms are negligible
    created = await api.create()
    sim.advance(4.9)  # queued lasts at least 5 s
    assert (await api.project(created["id"]))["status"] == "queued"
    sim.advance(55.2)  # and at most 60 s; running at least 60 s
    assert (await api.project(created["id"]))["status"] == "running"
    sim.advance(180 + 480 + 90)  # the longest running + generating + rendering
    assert (await api.project(created["id"]))["status"] == "idle"


async def test_collaborative_stops_at_each_decision_point(make_api: MakeApi) -> None:
    """A collaborative project stops idle, without result, at each of its decision points."""
    sim, api = await make_api(decision_points=(3, 3))
    project_id = (await api.create(mode="collaborative"))["id"]
    for point in range(1, 4):
        sim.advance(PHASE)
        stopped = await api.project(project_id)
        assert stopped["status"] == "idle"
        assert stopped["has_result"] is False
        assert f"Decision point {point}" in stopped["agent_message"]
        messages = (await api.get(f"/projects/{project_id}/messages")).body["data"]
        assert messages[-1]["role"] == "agent"
        assert messages[-1]["content"] == stopped["agent_message"]
        reply = await api.post(f"/projects/{project_id}/messages", {"content": f"ok {point}"})
        assert reply.status == 202
        assert reply.body["project"]["status"] == "queued"
        assert reply.body["message"]["role"] == "user"
    sim.advance(3 * PHASE)
    done = await api.project(project_id)
    assert (done["status"], done["has_result"]) == ("idle", True)


async def test_collaborative_passes_running_before_its_decision_point(make_api: MakeApi) -> None:
    """The decision point comes after running: a collaborative run is queued, running, idle."""
    sim, api = await make_api(request_limit=None, decision_points=(1, 1))
    project_id = (await api.create(mode="collaborative"))["id"]
    assert await _statuses_until_rest(sim, api, project_id) == ["queued", "running", "idle"]


async def test_switch_to_autonomous_skips_the_next_decision_point(make_api: MakeApi) -> None:
    """PATCH settings to autonomous while running: the run goes on to a result."""
    sim, api = await make_api(decision_points=(2, 2))
    project_id = (await api.create(mode="collaborative"))["id"]
    reply = await api.call("PATCH", f"/projects/{project_id}/settings", json={"mode": "autonomous"})
    assert (reply.status, reply.body["mode"]) == (200, "autonomous")
    sim.advance(3 * PHASE)
    done = await api.project(project_id)
    assert (done["status"], done["has_result"]) == ("idle", True)


async def test_switch_to_collaborative_stops_at_the_next_decision_point(make_api: MakeApi) -> None:
    """PATCH settings to collaborative on an autonomous project: it stops after running."""
    sim, api = await make_api()
    project_id = (await api.create())["id"]
    reply = await api.call(
        "PATCH", f"/projects/{project_id}/settings", json={"mode": "collaborative"}
    )
    assert reply.status == 200
    sim.advance(3 * PHASE)
    stopped = await api.project(project_id)
    assert (stopped["status"], stopped["has_result"]) == ("idle", False)
    assert "Decision point 1" in stopped["agent_message"]


async def test_cancel_active_and_idle_projects(make_api: MakeApi) -> None:
    """Cancel answers 200 cancelled on active and idle projects, 409 on cancelled ones."""
    sim, api = await make_api()
    idle = (await api.create())["id"]
    sim.advance(3 * PHASE)
    active = (await api.create())["id"]
    for project_id in (active, idle):
        reply = await api.post(f"/projects/{project_id}/cancel")
        assert (reply.status, reply.body["status"]) == (200, "cancelled")
        again = await api.post(f"/projects/{project_id}/cancel")
        assert (again.status, again.code) == (409, "conflict")
    sim.advance(3 * PHASE)
    assert (await api.project(active))["status"] == "cancelled"


async def test_failed_project_is_retried_by_a_message(make_api: MakeApi) -> None:
    """A failed project: cancel 409, message 202 back to queued, then on to a result."""
    sim, api = await make_api()
    project_id = (await api.create())["id"]
    sim.fail_project(project_id)
    sim.advance(PHASE)
    failed = await api.project(project_id)
    assert failed["status"] == "failed"
    assert failed["error_message"]
    assert failed["has_result"] is False
    assert (await api.post(f"/projects/{project_id}/cancel")).status == 409
    retry = await api.post(f"/projects/{project_id}/messages", {"content": "try again"})
    assert (retry.status, retry.body["project"]["status"]) == (202, "queued")
    sim.advance(3 * PHASE)
    done = await api.project(project_id)
    assert (done["status"], done["has_result"], done["error_message"]) == ("idle", True, None)


async def test_forced_failure_hits_the_current_phase(make_api: MakeApi) -> None:
    """fail_project on a running project fails it when running ends, not before."""
    sim, api = await make_api(request_limit=None, time_scale=1.0)
    project_id = (await api.create())["id"]
    sim.advance(61.0)
    assert (await api.project(project_id))["status"] == "running"
    sim.fail_project(project_id)
    assert (await api.project(project_id))["status"] == "running"
    sim.advance(180.0)
    assert (await api.project(project_id))["status"] == "failed"


async def test_failure_rate_one_fails_every_run(make_api: MakeApi) -> None:
    """With failure_rate=1 every run ends failed, at one of its phases."""
    sim, api = await make_api(failure_rate=1.0)
    ids = [(await api.create(f"brief {n}"))["id"] for n in range(3)]
    sim.advance(3 * PHASE)
    for project_id in ids:
        assert (await api.project(project_id))["status"] == "failed"


async def test_messages_conflict_on_active_and_cancelled_projects(make_api: MakeApi) -> None:
    """POST messages answers 409 while the project is active, and once it is cancelled."""
    _, api = await make_api()
    project_id = (await api.create())["id"]
    busy = await api.post(f"/projects/{project_id}/messages", {"content": "hurry"})
    assert (busy.status, busy.code) == (409, "conflict")
    await api.post(f"/projects/{project_id}/cancel")
    late = await api.post(f"/projects/{project_id}/messages", {"content": "hello?"})
    assert (late.status, late.code) == (409, "conflict")


async def test_render_rerenders_an_idle_project_with_a_new_result(make_api: MakeApi) -> None:
    """POST render on idle with a result: 202 rendering, then idle with a new video."""
    sim, api = await make_api()
    project_id = (await api.create())["id"]
    sim.advance(3 * PHASE)
    first = (await api.get(f"/projects/{project_id}/result")).body
    reply = await api.post(f"/projects/{project_id}/render", {"resolution": "1080p"})
    assert (reply.status, reply.body["status"], reply.body["has_result"]) == (
        202,
        "rendering",
        False,
    )
    busy = await api.get(f"/projects/{project_id}/result")
    assert (busy.status, busy.code) == (409, "conflict")
    sim.advance(PHASE)
    done = await api.project(project_id)
    assert (done["status"], done["has_result"]) == ("idle", True)
    second = (await api.get(f"/projects/{project_id}/result")).body
    assert second["sha256"] != first["sha256"]


async def test_render_needs_an_idle_project_with_a_finished_plan(make_api: MakeApi) -> None:
    """POST render answers 409 while active and at a decision point."""
    sim, api = await make_api()
    active = (await api.create())["id"]
    assert (await api.post(f"/projects/{active}/render")).status == 409
    deciding = (await api.create(mode="collaborative"))["id"]
    sim.advance(PHASE)
    assert (await api.project(deciding))["status"] == "idle"
    reply = await api.post(f"/projects/{deciding}/render", {})
    assert (reply.status, reply.code) == (409, "conflict")


async def test_4k_render_is_forbidden_on_free_and_allowed_on_pro(make_api: MakeApi) -> None:
    """A 4k render answers 403 forbidden on the free plan and 202 on the pro plan."""
    sim, api = await make_api()
    pro = api.as_key(sim.add_account(plan="pro"))
    free_id = (await api.create())["id"]
    pro_id = (await pro.create())["id"]
    sim.advance(3 * PHASE)
    denied = await api.post(f"/projects/{free_id}/render", {"resolution": "4k"})
    assert (denied.status, denied.code) == (403, "forbidden")
    allowed = await pro.post(f"/projects/{pro_id}/render", {"resolution": "4k"})
    assert allowed.status == 202
    sim.advance(PHASE)
    result = await pro.get(f"/projects/{pro_id}/result")
    assert result.body["resolution"] == "4k"


async def test_status_never_moves_backwards_without_a_user_action(make_api: MakeApi) -> None:
    """Polled in small clock steps, statuses only move forward along the lifecycle."""
    sim, api = await make_api(request_limit=None, seed=11)
    ids = [(await api.create(f"brief {n}"))["id"] for n in range(5)]
    last = dict.fromkeys(ids, 0)
    for _ in range(120):
        sim.advance(7.0)
        for project_id in ids:
            rank = ORDER.index((await api.project(project_id))["status"])
            assert rank >= last[project_id]
            last[project_id] = rank
    assert set(last.values()) == {ORDER.index("idle")}


async def test_the_real_protocol_runs_in_scaled_time_without_advancing(make_api: MakeApi) -> None:
    """At time_scale 0.001 a whole autonomous run (at most 810 contract s) ends within ~1 s."""
    _, api = await make_api(time_scale=0.001, request_limit=None)
    project_id = (await api.create())["id"]
    started = time.perf_counter()
    while (await api.project(project_id))["status"] != "idle":
        assert time.perf_counter() - started < 3.0
        await asyncio.sleep(0.02)
    assert time.perf_counter() - started >= (5 + 60 + 120 + 30) * 0.001


async def test_the_same_seed_replays_the_same_run(make_api: MakeApi) -> None:
    """Two simulators with one seed give the same ids, decisions and timings to the same calls."""
    runs = []
    for _ in range(2):
        sim, api = await make_api(seed=99, request_limit=None, time_scale=1.0)
        ids = [(await api.create(f"b{n}", mode="collaborative"))["id"] for n in range(3)]
        trace = []
        for _ in range(12):
            sim.advance(40.0)
            trace.append([(await api.project(i))["status"] for i in ids])
        runs.append((ids, trace))
    assert runs[0] == runs[1]
