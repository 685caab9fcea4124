"""The client's slot tracking and ``wait``: no caller's wait, unwatch or outage ends another's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest
from watch_helpers import SimFactory, client_for, create_elsewhere

from videoagent import AsyncVideoAgent, Limits, Project, ProjectWatcher
from videoagent._errors import WaitTimeoutError
from videoagent._events import AgentMessage, WatchFailed
from videoagent.simulator import Faults, Simulator

#: Phases of 40 contract seconds: a run ends in about 160 (0.3 s real).
SHORT = dict.fromkeys(("queued", "running", "generating", "rendering"), (40.0, 40.0))
#: Contract seconds a test gives a second create to get its slot: runs, polls and all.
ADMITTED_WITHIN = 2_000.0


async def _until(condition: Callable[[], bool], sim: Simulator) -> None:
    """Return once ``condition()`` holds (checked every contract second, 2,000 at most)."""
    with anyio.fail_after(ADMITTED_WITHIN * sim.time_scale):
        while not condition():  # noqa: ASYNC110 - scaled time, nothing to wait on
            await anyio.sleep(sim.time_scale)


async def _second_create_after(
    sim: Simulator, client: AsyncVideoAgent, meanwhile: Callable[[Project], Awaitable[None]]
) -> Project:
    """Create one project, queue a second create behind it (one slot), run ``meanwhile``.

    Returns the second project, which must get the slot once the first ends.
    """
    first = await client.projects.create("first")
    created: list[Project] = []

    async def second() -> None:
        created.append(await client.projects.create("second"))

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await _until(lambda: client.statistics().slots.waiting == 1, sim)
        await meanwhile(first)
        with anyio.fail_after(ADMITTED_WITHIN * sim.time_scale):
            while not created:  # noqa: ASYNC110 - scaled time
                await anyio.sleep(sim.time_scale)
    return created[0]


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_a_wait_that_ends_early_keeps_the_slot_tracked(
    make_simulator: SimFactory, ending: str
) -> None:
    """A ``wait`` timing out (or cancelled) leaves slot tracking on: a queued create goes on."""
    async with (
        make_simulator(active_limit=1, durations=SHORT) as sim,
        client_for(sim, limits=Limits(active_projects=1)) as client,
    ):
        watcher = client.watcher

        async def wait_briefly(first: Project) -> None:
            if ending == "timeout":
                with pytest.raises(WaitTimeoutError):
                    await client.projects.wait(first.id, timeout=5)
            else:
                with anyio.move_on_after(5 * sim.time_scale):
                    await client.projects.wait(first.id)
            assert first.id in watcher._entries  # still tracked for its slot

        second = await _second_create_after(sim, client, wait_briefly)
        assert second.status.is_active
        assert sim.stats().project_limit == 0


@pytest.mark.parametrize("shared", [True, False], ids=["client-wait", "own-watcher"])
@pytest.mark.parametrize("ending", ["timeout", "cancel"])
async def test_one_wait_ending_leaves_another_wait_of_the_project_waiting(
    make_simulator: SimFactory, shared: bool, ending: str
) -> None:
    """Two waits on one project: one times out (or is cancelled), the other still gets it idle."""
    async with (
        make_simulator(durations=SHORT) as sim,
        client_for(sim) as client,
        ProjectWatcher(client) as own,
    ):
        (project_id,) = await create_elsewhere(sim, 1)
        wait = client.projects.wait if shared else own.wait
        patient: list[Project] = []

        async def wait_patiently() -> None:
            patient.append(await wait(project_id))

        async with anyio.create_task_group() as group:
            group.start_soon(wait_patiently)
            await anyio.lowlevel.checkpoint()
            if ending == "timeout":
                with pytest.raises(WaitTimeoutError):
                    await wait(project_id, timeout=2)
            else:
                with anyio.move_on_after(2 * sim.time_scale):
                    await wait(project_id)
        assert [p.status.value for p in patient] == ["idle"]
        watcher = client.watcher if shared else own
        assert watcher.statistics().watched == 0  # the last wait's end forgets it


async def test_failed_polls_do_not_end_the_tracking_of_a_held_slot(
    make_simulator: SimFactory,
) -> None:
    """Five failed polls in a row (a 5xx outage) end the watch, not the slot's: a create goes on."""
    async with (
        make_simulator(active_limit=1, durations=SHORT) as sim,
        client_for(sim, limits=Limits(active_projects=1), max_retries=1) as client,
    ):
        watcher = client.watcher
        failures: list[WatchFailed] = []

        async def outage(first: Project) -> None:
            async def collect() -> None:
                async for event in watcher.events(first.id):
                    if isinstance(event, WatchFailed):
                        failures.append(event)

            async with anyio.create_task_group() as group:
                group.start_soon(collect)
                sim.set_faults(Faults(error_500=1.0, only=f"GET /v1/projects/{first.id}"))
                await _until(lambda: bool(failures), sim)
                group.cancel_scope.cancel()
            assert first.id in watcher._entries  # still polled, backing off
            sim.set_faults(Faults())  # the outage ends

        second = await _second_create_after(sim, client, outage)
        assert second.status.is_active
        assert len(failures) == 1
        assert sim.stats().faults_injected >= 2 * 5  # five polls of two attempts each


async def test_a_message_does_not_announce_old_agent_messages_again(
    make_simulator: SimFactory,
) -> None:
    """The shared watcher re-tracks a project at each message: each agent message comes once."""
    async with make_simulator(durations=SHORT) as sim, client_for(sim) as client:
        seen: list[str] = []

        async def collect() -> None:
            async for event in client.watcher.events():
                if isinstance(event, AgentMessage):
                    seen.append(event.message.id)

        async with anyio.create_task_group() as group:
            group.start_soon(collect)
            await anyio.lowlevel.checkpoint()
            project = await client.projects.create("talk it through", mode="collaborative")
            project = await client.projects.wait(project.id)
            sent = 0
            while not project.has_result:
                await client.projects.send_message(project.id, "go on")
                project = await client.projects.wait(project.id)
                sent += 1
            agent = [m.id async for m in client.projects.messages(project.id) if m.role != "user"]
            await _until(lambda: len(seen) >= len(agent), sim)
            group.cancel_scope.cancel()
        assert sent >= 1
        assert [k for k, n in Counter(seen).items() if n > 1] == []
        assert sorted(seen) == sorted(agent)


async def test_watching_an_overtaken_project_polls_it_first(make_simulator: SimFactory) -> None:
    """``watch(project)`` with a Project older than one the client saw since does not trust it."""
    async with make_simulator(durations=SHORT) as sim, client_for(sim) as client:
        project = await client.projects.create("talk it through", mode="collaborative")
        stale = await client.projects.wait(project.id)  # idle at a decision point
        accepted = await client.projects.send_message(project.id, "go on")
        assert accepted.project.status.is_active
        async with ProjectWatcher(client) as watcher:
            watcher.watch(stale)
            done = await watcher.wait(project.id)
        assert done.updated_at > accepted.project.updated_at
        assert done.status.is_terminal
