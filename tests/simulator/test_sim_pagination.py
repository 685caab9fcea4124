"""Cursor pagination of messages (oldest first) and projects (newest first)."""

from __future__ import annotations

from sim_helpers import MakeApi

PHASE = 500.0


async def test_messages_pages_and_after_cursor(make_api: MakeApi) -> None:
    """Messages come oldest first; after= returns only newer ones; has_more marks a next page."""
    sim, api = await make_api(request_limit=None, decision_points=(3, 3))
    project_id = (await api.create(mode="collaborative"))["id"]
    for n in range(3):
        sim.advance(PHASE)
        await api.post(f"/projects/{project_id}/messages", {"content": f"feedback {n}"})
    sim.advance(3 * PHASE)
    everything = (await api.get(f"/projects/{project_id}/messages")).body
    assert not everything["has_more"]
    roles = [m["role"] for m in everything["data"]]
    assert roles == ["agent", "user"] * 3 + ["agent"]
    stamps = [m["created_at"] for m in everything["data"]]
    assert stamps == sorted(stamps)
    seen, after = [], None
    while True:
        params = {"limit": "2"} | ({"after": after} if after else {})
        page = (await api.get(f"/projects/{project_id}/messages", params=params)).body
        seen += page["data"]
        after = page["data"][-1]["id"]
        if not page["has_more"]:
            break
    assert seen == everything["data"]
    tail = await api.get(f"/projects/{project_id}/messages", params={"after": after})
    assert tail.body == {"object": "list", "data": [], "has_more": False}


async def test_projects_pages_newest_first(make_api: MakeApi) -> None:
    """Projects list newest first, after= the last id of the previous page."""
    _, api = await make_api(request_limit=None, active_limit=None)
    made = [(await api.create(f"brief {n}"))["id"] for n in range(7)]
    seen, params = [], {"limit": "3"}
    while True:
        page = (await api.get("/projects", params=params)).body
        seen += [p["id"] for p in page["data"]]
        if not page["has_more"]:
            break
        params = {"limit": "3", "after": page["data"][-1]["id"]}
    assert seen == made[::-1]


async def test_projects_filter_by_status(make_api: MakeApi) -> None:
    """status= lists only the projects in that status."""
    sim, api = await make_api(request_limit=None)
    done = (await api.create("done"))["id"]
    sim.advance(3 * PHASE)
    busy = (await api.create("busy"))["id"]
    idle = (await api.get("/projects", params={"status": "idle"})).body["data"]
    queued = (await api.get("/projects", params={"status": "queued"})).body["data"]
    assert [p["id"] for p in idle] == [done]
    assert [p["id"] for p in queued] == [busy]


async def test_bad_cursors_and_limits_answer_400(make_api: MakeApi) -> None:
    """An unknown cursor, a limit out of 1..100 or an unknown status answer validation_error."""
    _, api = await make_api(request_limit=None)
    project_id = (await api.create())["id"]
    for path, params in [
        ("/projects", {"after": "prj_doesnotexist00"}),
        ("/projects", {"limit": "0"}),
        ("/projects", {"limit": "101"}),
        ("/projects", {"limit": "ten"}),
        ("/projects", {"status": "finished"}),
        (f"/projects/{project_id}/messages", {"after": "msg_unknown000000"}),
        (f"/projects/{project_id}/messages", {"limit": "-1"}),
    ]:
        reply = await api.get(path, params=params)
        assert (reply.status, reply.code) == (400, "validation_error"), (path, params)
        assert reply.body["error"]["message"].startswith(next(iter(params)) + ": ")
