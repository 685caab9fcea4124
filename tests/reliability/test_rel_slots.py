"""Active slots through failed creates: a create that may have taken effect keeps its slot."""

from __future__ import annotations

import anyio
import pytest
from rel_helpers import FAST, SCALE

from videoagent import AsyncVideoAgent, ConfigurationError, Limits
from videoagent._errors import (
    APIConnectionError,
    ConflictError,
    InternalServerError,
    RateLimitError,
)
from videoagent._wiring import wiring_of
from videoagent.simulator import Faults, Simulator

#: Phases that outlast every test here: our projects stay active throughout.
LONG = {"queued": (600.0, 600.0)}


def _client(sim: Simulator) -> AsyncVideoAgent:
    return AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale)


async def _fail_a_create(sim: Simulator, client: AsyncVideoAgent, fault: str) -> None:
    """A create whose every attempt (1 + 4 retries) meets ``fault``; it raises."""
    sim.set_faults(Faults(**{fault: 1.0}, only="POST /v1/projects", count=5))
    error = APIConnectionError if fault == "drop" else InternalServerError
    with pytest.raises(error):
        await client.projects.create("lost answers")


async def test_a_create_whose_answers_were_lost_keeps_its_slot() -> None:
    """Every answer of a create lost (it took effect): the next five share four slots, no 429."""
    async with Simulator(time_scale=SCALE, seed=21, durations=FAST) as sim, _client(sim) as client:
        await _fail_a_create(sim, client, "drop")
        for n in range(5):
            await client.projects.create(f"brief {n}")
        assert len(sim.projects()) == 6
        assert sim.stats().project_limit == 0
        assert sim.stats().max_active_projects == 5


async def test_a_create_refused_by_every_attempt_gives_its_slot_back_at_once() -> None:
    """Five 500s (no effect): the server's count, asked at once, ends the placeholder."""
    async with Simulator(time_scale=SCALE, seed=21, durations=LONG) as sim, _client(sim) as client:
        await _fail_a_create(sim, client, "error_500")
        assert client.statistics().slots.placeholders == 0
        made = [await client.projects.create(f"brief {n}") for n in range(5)]
        assert len(sim.projects()) == len(made) == 5
        assert sim.stats().project_limit == 0


async def test_a_placeholder_ends_when_the_server_stops_counting_its_project() -> None:
    """The lost create's project is cancelled elsewhere: a waiting create re-counts and goes."""
    async with Simulator(time_scale=SCALE, seed=21, durations=LONG) as sim, _client(sim) as client:
        await _fail_a_create(sim, client, "drop")
        for n in range(4):
            await client.projects.create(f"brief {n}")
        (ghost,) = [p.id for p in sim.projects() if p.brief == "lost answers"]
        async with _client(sim) as other:  # another client: ours never sees it end
            await other.projects.cancel(ghost)
        assert client.statistics().slots.placeholders == 1
        await client.projects.create("the fifth")  # waits, asks GET /account, goes
        assert client.statistics().slots.placeholders == 0
        assert sim.stats().project_limit == 0
        assert sum(p.status == "queued" for p in sim.projects()) == 5


async def test_a_message_that_may_have_arrived_holds_the_slot_until_its_project_is_seen() -> None:
    """A message failing five times (500s) holds the project's slot until a poll sees it idle."""
    async with Simulator(time_scale=SCALE, seed=21, durations=FAST) as sim, _client(sim) as client:
        watcher = client.watcher
        project = await client.projects.create("talk it through", mode="collaborative")
        watcher.watch(project)  # watched on: idle, it stays dormant in the watcher
        await watcher.wait(project.id)
        slots = wiring_of(client).slots
        sim.set_faults(Faults(error_500=1.0, only=f"POST /v1/projects/{project.id}/messages"))
        with pytest.raises(InternalServerError):
            await client.projects.send_message(project.id, "go on")
        with anyio.fail_after(100 * SCALE):  # one poll, at once
            while project.id in slots.held():  # noqa: ASYNC110 - scaled time
                await anyio.sleep(SCALE)
        assert [p.status for p in sim.projects()] == ["idle"]  # the 500s had no effect
        assert slots.statistics().held == 0


async def test_a_render_refused_before_sending_holds_no_slot() -> None:
    """``render`` of a cancelled project is refused before anything is sent: no slot stays taken."""
    async with Simulator(time_scale=SCALE, seed=21, durations=FAST) as sim:
        client = _client(sim)  # not entered: no watcher would free a slot held wrongly
        try:
            project = await client.projects.create("a brief")
            await client.projects.cancel(project.id)
            with pytest.raises(ConflictError, match="nothing was sent"):
                await client.projects.render(project.id)
            assert client.statistics().slots.held == 0
            assert not [r for r in sim.request_log if r.path.endswith("/render")]
        finally:
            await client.aclose()


async def test_a_render_refused_by_the_daily_limit_holds_no_slot() -> None:
    """A 429 with a Retry-After of hours proves the render had no effect: its slot is free."""
    async with Simulator(time_scale=SCALE, seed=21, durations=FAST, renders_per_day=1) as sim:
        client = _client(sim)
        try:
            project = await client.projects.create("a brief")
            sim.advance(3_600)
            await client.projects.render((await client.projects.get(project.id)).id)
            sim.advance(3_600)
            assert (await client.projects.get(project.id)).has_result
            with pytest.raises(RateLimitError):
                await client.projects.render(project.id)
            assert client.statistics().slots.held == 0
        finally:
            await client.aclose()


async def test_a_create_cancelled_while_waiting_for_the_budget_leaves_no_placeholder() -> None:
    """A create given up while it waits for a request slot was never sent: nothing is kept."""
    async with Simulator(time_scale=0.1, seed=21, durations=LONG) as sim:
        client = AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=0.1)
        try:
            for _ in range(30):  # the whole window (6 real seconds at this scale)
                await client.account.get()
            with anyio.move_on_after(0.2) as scope:
                await client.projects.create("never sent")
            assert scope.cancelled_caught
            assert not [r for r in sim.request_log if r.method == "POST"]
            stats = client.statistics().slots
            assert (stats.held, stats.placeholders) == (0, 0)
        finally:
            await client.aclose()


async def test_closing_the_client_ends_a_create_waiting_for_a_slot() -> None:
    """A create waiting for a slot when its client closes raises ConfigurationError, only that."""
    async with Simulator(time_scale=SCALE, seed=21, durations=LONG) as sim:
        client = AsyncVideoAgent(
            sim.api_key, sim.base_url, time_scale=SCALE, limits=Limits(active_projects=1)
        )
        await client.projects.create("holds the only slot")
        raised: list[BaseException] = []

        async def second() -> None:
            try:
                await client.projects.create("waits")
            except BaseException as exc:  # what it raises is the point
                raised.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            await client.aclose()
        assert [type(exc) for exc in raised] == [ConfigurationError]
        assert len(sim.projects()) == 1
