"""Each row of CONTRACT.md's limits table, over HTTP.

Exact-window tests run at ``time_scale=1`` and move the clock with
``advance()``: the real milliseconds a test takes are then negligible
against a 60 s window, and no test waits.
"""

from __future__ import annotations

import asyncio
import math
import time

from sim_helpers import MakeApi

PHASE = 500.0


async def test_thirty_requests_per_window_then_429_with_retry_after(make_api: MakeApi) -> None:
    """The 31st request in 60 s answers 429 rate_limited; headers count down and reset."""
    _, api = await make_api(time_scale=1.0)
    started = time.time()
    for n in range(30):
        reply = await api.get("/account")
        assert reply.status == 200
        assert reply.headers["X-RateLimit-Limit"] == "30"
        assert reply.headers["X-RateLimit-Remaining"] == str(29 - n)
    refused = await api.get("/account")
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) in (59, 60)
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert started + 59 <= reset <= math.ceil(time.time() + 60)


async def test_refused_requests_do_not_count(make_api: MakeApi) -> None:
    """Requests answered 429 are not counted: a full window frees all 30 slots."""
    sim, api = await make_api(time_scale=1.0)
    for _ in range(30):
        await api.get("/account")
    for _ in range(5):
        assert (await api.get("/account")).status == 429
    sim.advance(60.0)
    for _ in range(30):
        assert (await api.get("/account")).status == 200
    stats = sim.stats(sim.api_key)
    assert (stats.requests, stats.rate_limited, stats.max_window_requests) == (60, 5, 30)


async def test_window_slides(make_api: MakeApi) -> None:
    """Slots free one by one as their requests leave the sliding window."""
    sim, api = await make_api(time_scale=1.0)
    for _ in range(10):
        await api.get("/account")
    sim.advance(30.0)
    for _ in range(20):
        assert (await api.get("/account")).status == 200
    refused = await api.get("/account")
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) in (29, 30)
    sim.advance(30.5)
    for _ in range(10):
        assert (await api.get("/account")).status == 200
    assert (await api.get("/account")).status == 429


async def test_the_limit_is_per_account_across_its_keys(make_api: MakeApi) -> None:
    """Two keys of one account share 30 requests; another account has its own."""
    sim, api = await make_api(time_scale=1.0)
    second = api.as_key((await api.post("/api-keys", {"name": "second"})).body["key"])
    other = api.as_key(sim.add_account())
    for _ in range(14):
        await api.get("/account")
        await second.get("/account")
    assert (await second.get("/account")).status == 200  # the 30th
    assert (await api.get("/account")).status == 429
    assert (await second.get("/account")).status == 429
    assert (await other.get("/account")).status == 200


async def test_injected_faults_count_and_unauthenticated_requests_do_not(
    make_api: MakeApi,
) -> None:
    """Injected 500s arrived, so they count; 401s belong to no account."""
    sim, api = await make_api(time_scale=1.0)
    for _ in range(3):
        assert (await api.get("/account", auth=False)).status == 401
    sim.set_faults(error_500=1.0)
    for _ in range(30):
        assert (await api.get("/account")).status == 500
    sim.set_faults()
    assert (await api.get("/account")).status == 429
    assert sim.stats(sim.api_key).requests == 30


async def test_five_active_projects_then_project_limit(make_api: MakeApi) -> None:
    """A sixth active project answers 429 project_limit; a finished one frees a slot."""
    sim, api = await make_api()
    for n in range(5):
        await api.create(f"brief {n}")
    refused = await api.post("/projects", {"brief": "one too many"})
    assert (refused.status, refused.code) == (429, "project_limit")
    assert int(refused.headers["Retry-After"]) >= 1
    account = (await api.get("/account")).body
    assert (account["active_projects"], account["credits"]) == (5, 10_000 - 5 * 50)
    sim.advance(3 * PHASE)
    assert (await api.get("/account")).body["active_projects"] == 0
    await api.create("now there is room")
    stats = sim.stats()
    assert (stats.max_active_projects, stats.project_limit, stats.projects_created) == (5, 1, 6)


async def test_message_and_render_also_need_a_free_slot(make_api: MakeApi) -> None:
    """With five active projects, message and render answer 429 project_limit too."""
    sim, api = await make_api()
    idle = (await api.create())["id"]
    failed = (await api.create())["id"]
    sim.fail_project(failed)
    sim.advance(3 * PHASE)
    for n in range(5):
        await api.create(f"brief {n}")
    message = await api.post(f"/projects/{failed}/messages", {"content": "retry"})
    render = await api.post(f"/projects/{idle}/render")
    assert (message.status, message.code) == (429, "project_limit")
    assert (render.status, render.code) == (429, "project_limit")
    assert sim.stats().max_active_projects == 5


async def test_two_hundred_projects_a_day(make_api: MakeApi) -> None:
    """The 201st project of a day answers project_limit, Retry-After to the day's end."""
    sim, api = await make_api(request_limit=None, active_limit=None)
    api = api.as_key(sim.add_account(credits=20_000))
    sim.advance(sim.clock.seconds_to_midnight())  # start at the top of a day
    for n in range(200):
        await api.create(f"brief {n}")
    refused = await api.post("/projects", {"brief": "one more"})
    assert (refused.status, refused.code) == (429, "project_limit")
    assert abs(int(refused.headers["Retry-After"]) - sim.clock.seconds_to_midnight()) <= 2
    assert (await api.get("/account")).body["projects_today"] == 200
    sim.advance(int(refused.headers["Retry-After"]) + 1)
    await api.create("a new day")
    assert (await api.get("/account")).body["projects_today"] == 1


async def test_fifty_renders_a_day(make_api: MakeApi) -> None:
    """The 51st render of a day answers 429 rate_limited with Retry-After to the day's end."""
    sim, api = await make_api(request_limit=None, time_scale=0.001)
    sim.advance(sim.clock.seconds_to_midnight())  # start at the top of a day
    project_id = (await api.create())["id"]
    sim.advance(3 * PHASE)
    for _ in range(50):
        assert (await api.post(f"/projects/{project_id}/render")).status == 202
        sim.advance(100.0)
    refused = await api.post(f"/projects/{project_id}/render")
    assert (refused.status, refused.code) == (429, "rate_limited")
    wait = int(refused.headers["Retry-After"])
    assert (await api.get("/account")).body["renders_today"] == 50
    sim.advance(wait + 1)
    assert (await api.post(f"/projects/{project_id}/render")).status == 202


async def test_credits_are_charged_and_402_when_short(make_api: MakeApi) -> None:
    """Create charges 50 and needs 50; message charges 10 and needs 10; else 402."""
    sim, api = await make_api()
    poor = api.as_key(sim.add_account(credits=110))
    project_id = (await poor.create())["id"]
    second = await poor.create()
    assert second["credits_warning"] == {"balance": 10, "threshold": 100}
    short = await poor.post("/projects", {"brief": "no money"})
    assert (short.status, short.code) == (402, "insufficient_credits")
    sim.advance(3 * PHASE)
    accepted = await poor.post(f"/projects/{project_id}/messages", {"content": "more"})
    assert accepted.status == 202
    assert accepted.body["credits_warning"]["balance"] == 0
    sim.advance(3 * PHASE)
    broke = await poor.post(f"/projects/{second['id']}/messages", {"content": "more"})
    assert (broke.status, broke.code) == (402, "insufficient_credits")
    assert (await poor.get("/account")).body["credits"] == 0


async def test_credits_warning_on_every_success_body_below_100(make_api: MakeApi) -> None:
    """Below 100 credits every success body carries credits_warning; at 100 or more none does."""
    sim, api = await make_api()
    low = api.as_key(sim.add_account(credits=99))
    rich = api.as_key(sim.add_account(credits=100))
    for path in ("/account", "/projects", "/api-keys"):
        assert (await low.get(path)).body["credits_warning"] == {"balance": 99, "threshold": 100}
        assert "credits_warning" not in (await rich.get(path)).body


async def test_ten_keys_then_conflict(make_api: MakeApi) -> None:
    """An account holds 10 active keys; the 11th answers 409; revoking frees one."""
    _, api = await make_api(request_limit=None)
    made = [await api.post("/api-keys", {"name": f"k{n}"}) for n in range(9)]
    assert all(reply.status == 201 for reply in made)
    assert made[0].body["prefix"] == made[0].body["key"][:12]
    over = await api.post("/api-keys", {"name": "eleventh"})
    assert (over.status, over.code) == (409, "conflict")
    listed = (await api.get("/api-keys")).body["data"]
    assert len(listed) == 10
    assert all("key" not in item for item in listed)
    victim = made[0].body
    assert (await api.call("DELETE", f"/api-keys/{victim['id']}")).status == 204
    assert (await api.as_key(victim["key"]).get("/account", headers={})).status == 401
    assert (await api.call("DELETE", f"/api-keys/{victim['id']}")).status == 404
    assert (await api.post("/api-keys", {"name": "again"})).status == 201


async def test_idempotent_create_replays_200_and_conflicts_409(make_api: MakeApi) -> None:
    """Same key and parameters: 200 with the same project, uncharged; other parameters: 409."""
    sim, api = await make_api()
    first = await api.create("teaser", idempotency_key="job-1", metadata={"row": "1"})
    replay = await api.post(
        "/projects", {"brief": "teaser", "idempotency_key": "job-1", "metadata": {"row": "1"}}
    )
    assert (replay.status, replay.body["id"]) == (200, first["id"])
    mismatch = await api.post("/projects", {"brief": "another", "idempotency_key": "job-1"})
    assert (mismatch.status, mismatch.code) == (409, "conflict")
    assert (await api.get("/account")).body["credits"] == 10_000 - 50
    assert len(sim.projects(sim.api_key)) == 1


async def test_idempotent_replay_is_not_counted_as_active(make_api: MakeApi) -> None:
    """At five active projects a replay still answers 200 and takes no slot."""
    sim, api = await make_api()
    keyed = await api.create("keyed", idempotency_key="k")
    for n in range(4):
        await api.create(f"brief {n}")
    replay = await api.post("/projects", {"brief": "keyed", "idempotency_key": "k"})
    assert (replay.status, replay.body["id"]) == (200, keyed["id"])
    assert sim.stats().max_active_projects == 5
    assert sim.stats().projects_created == 5


async def test_idempotency_keys_are_kept_24_hours(make_api: MakeApi) -> None:
    """After 24 contract hours the same key creates a new project (202)."""
    sim, api = await make_api()
    first = await api.create("teaser", idempotency_key="job")
    sim.advance(86_401.0)
    again = await api.post("/projects", {"brief": "teaser", "idempotency_key": "job"})
    assert again.status == 202
    assert again.body["id"] != first["id"]


async def test_keys_made_by_the_simulator_share_the_account(make_api: MakeApi) -> None:
    """add_key gives the same account another key, within the same 10-key limit."""
    sim, api = await make_api(request_limit=None)
    extra = api.as_key(sim.add_key(sim.api_key, name="ops"))
    assert (await extra.post("/projects", {"brief": "by the second key"})).status == 202
    assert len(sim.projects(sim.api_key)) == 1
    names = [key["name"] for key in (await api.get("/api-keys")).body["data"]]
    assert names == ["default", "ops"]


async def test_answers_429_for_other_reasons_do_not_count_either(make_api: MakeApi) -> None:
    """A request answered 429 project_limit is taken back out of the request window."""
    sim, api = await make_api(time_scale=1.0)
    for n in range(5):
        await api.create(f"brief {n}")
    for _ in range(10):
        refused = await api.post("/projects", {"brief": "no slot"})
        assert (refused.status, refused.code) == (429, "project_limit")
        assert refused.headers["X-RateLimit-Remaining"] == "25"
    for _ in range(25):
        assert (await api.get("/account")).status == 200
    assert (await api.get("/account")).status == 429
    stats = sim.stats(sim.api_key)
    assert (stats.requests, stats.max_window_requests, stats.project_limit) == (30, 30, 10)
    assert [record.counted for record in sim.request_log[5:15]] == [False] * 10


async def test_retry_after_is_in_contract_seconds_and_waiting_it_scaled_works(
    make_api: MakeApi,
) -> None:
    """At time_scale 0.01 Retry-After is ~60 and waiting retry_after * 0.01 real s suffices."""
    _, api = await make_api(time_scale=0.01)
    for _ in range(30):
        await api.get("/account")
    refused = await api.get("/account")
    assert refused.status == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 45 <= retry_after <= 60
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert abs(reset - (time.time() + retry_after)) <= 2
    await asyncio.sleep(retry_after * 0.01)
    assert (await api.get("/account")).status == 200


async def test_project_limit_retry_after_is_when_the_soonest_run_ends(make_api: MakeApi) -> None:
    """Retry-After of project_limit covers the rest of the busy project's run (here a render)."""
    sim, api = await make_api(time_scale=1.0, active_limit=1, decision_points=(1, 1))
    project_id = (await api.create())["id"]
    sim.advance(1_500)
    await api.call("PATCH", f"/projects/{project_id}/settings", json={"mode": "collaborative"})
    assert (await api.post(f"/projects/{project_id}/render")).status == 202
    refused = await api.post("/projects", {"brief": "waits for the render"})
    assert (refused.status, refused.code) == (429, "project_limit")
    assert 30 <= int(refused.headers["Retry-After"]) <= 90
