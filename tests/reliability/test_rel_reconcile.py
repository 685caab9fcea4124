"""Render, cancel and send_message act once even when their answer is lost, in every ordering.

None of the three carries an idempotency key. Each test loses the first answer
(an injected 500: not applied; a dropped connection or a timeout: applied) and
lets the project be in a given state when the SDK checks, then asserts what
happened on the server (renders, cancels, user messages) and what the caller got.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from videoagent import AsyncVideoAgent, ConflictError, Project, ProjectStatus
from videoagent._wiring import wiring_of
from videoagent.simulator import Simulator

SCALE = 0.01
#: Renders (and plan runs) that end the instant they start: done before any check.
INSTANT = {"queued": (0.0, 0.0), "running": (0.0, 0.0), "generating": (0.0, 0.0)}
INSTANT_RENDER = {**INSTANT, "rendering": (0.0, 0.0)}


def make_client(sim: Simulator, **options: Any) -> AsyncVideoAgent:
    """A client of ``sim`` on its time scale."""
    return AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=sim.time_scale, **options)


async def settled(sim: Simulator, client: AsyncVideoAgent, project_id: str) -> Project:
    """Move the simulator an hour on and read the project (now at rest)."""
    sim.advance(3_600)
    return await client.projects.get(project_id)


def posts(sim: Simulator, action: str) -> list[str]:
    """What each ``POST .../<action>`` got: its fault, else its status (as text)."""
    return [
        r.fault or str(r.status)
        for r in sim.request_log
        if r.method == "POST" and r.path.endswith(f"/{action}")
    ]


def renders(sim: Simulator, project_id: str) -> int:
    """Renders the server started for ``project_id``."""
    (snapshot,) = [p for p in sim.projects() if p.id == project_id]
    return snapshot.renders


def entered(sim: Simulator, project_id: str, status: str) -> int:
    """How many times ``project_id`` entered ``status`` on the server."""
    (snapshot,) = [p for p in sim.projects() if p.id == project_id]
    return [s for s, _ in snapshot.history].count(status)


async def user_messages(client: AsyncVideoAgent, project_id: str) -> list[str]:
    """The ids of the project's user messages, oldest first."""
    return [m.id async for m in client.projects.messages(project_id) if m.role == "user"]


def after_first_check(
    monkeypatch: pytest.MonkeyPatch, client: AsyncVideoAgent, act: Callable[[], Awaitable[None]]
) -> None:
    """Run ``act`` once, right after the client's first project read from now on (its check)."""
    poller = wiring_of(client).poller
    real = poller.get
    done = False

    async def get_then_act(project_id: str, **options: Any) -> Project:
        nonlocal done
        project = await real(project_id, **options)
        if not done:
            done = True
            await act()
        return project

    monkeypatch.setattr(poller, "get", get_then_act)


@pytest.fixture
async def instant() -> AsyncIterator[Simulator]:
    """A simulator whose runs and renders end the instant they start."""
    async with Simulator(time_scale=SCALE, seed=7, durations=INSTANT_RENDER) as sim:
        yield sim


# -- render ---------------------------------------------------------------------

RENDER_ORDERINGS: Mapping[str, tuple[str, Mapping[str, tuple[float, float]], bool, str]] = {
    # name: (fault of the first render, durations, fail the render, status the caller gets)
    "not applied": ("error_500", {}, False, "rendering"),
    "applied, still rendering": ("drop", {}, False, "rendering"),
    "applied, already finished": ("drop", INSTANT_RENDER, False, "idle"),
    "applied, already failed": ("drop", INSTANT_RENDER, True, "failed"),
}


@pytest.mark.parametrize("ordering", list(RENDER_ORDERINGS))
async def test_render_whose_answer_is_lost_starts_exactly_one_render(ordering: str) -> None:
    """A render whose answer is lost is never started twice, and the caller gets its outcome."""
    fault, durations, fail, expected = RENDER_ORDERINGS[ordering]
    async with Simulator(time_scale=SCALE, seed=7, durations=durations) as sim:
        async with make_client(sim) as client:
            project_id = (await client.projects.create("render once")).id
            assert (await settled(sim, client, project_id)).has_result
            if fail:
                sim.fail_project(project_id)  # the next run fails at its first phase
            sim.set_faults(**{fault: 1.0}, only=f"POST /v1/projects/{project_id}/render", count=1)
            project = await client.projects.render(project_id)
        assert renders(sim, project_id) == 1
        assert project.status is ProjectStatus(expected)
        assert project.has_result is (expected == "idle")
        assert posts(sim, "render") == (["error_500", "202"] if fault == "error_500" else ["drop"])


async def test_render_timed_out_after_it_finished_is_not_sent_again() -> None:
    """A render answered past the client's timeout, finished by then, is returned, not resent."""
    durations = {"rendering": (5.0, 5.0)}
    async with Simulator(time_scale=SCALE, seed=7, durations=durations) as sim:
        async with make_client(sim, timeout=20.0) as client:
            project_id = (await client.projects.create("slow answer")).id
            await settled(sim, client, project_id)
            sim.set_faults(slow=1.0, slow_seconds=60.0, only="POST /v1/projects/", count=1)
            project = await client.projects.render(project_id, resolution="1080p")
        assert (project.status, project.has_result) == (ProjectStatus.IDLE, True)
        assert renders(sim, project_id) == 1
        assert posts(sim, "render") == ["slow"]


async def test_render_twice_in_a_row_renders_twice(instant: Simulator) -> None:
    """Two renders asked for on purpose, the second one's answer lost, are two renders."""
    async with make_client(instant) as client:
        project_id = (await client.projects.create("twice")).id
        await settled(instant, client, project_id)
        await client.projects.render(project_id)
        await settled(instant, client, project_id)
        instant.set_faults(error_500=1.0, only="POST /v1/projects/", count=1)
        await client.projects.render(project_id)
    assert renders(instant, project_id) == 2
    assert posts(instant, "render") == ["202", "error_500", "202"]


async def test_render_of_a_project_not_ready_is_refused_before_sending(
    simulator: Simulator,
) -> None:
    """A render of a project still working raises ConflictError and sends no render."""
    async with make_client(simulator) as client:
        project = await client.projects.create("busy")
        with pytest.raises(ConflictError, match="nothing was sent"):
            await client.projects.render(project.id)
        assert client.statistics().slots.pending == 0
    assert posts(simulator, "render") == []


# -- cancel ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["error_500", "drop"])
async def test_cancel_whose_answer_is_lost_cancels_once(simulator: Simulator, fault: str) -> None:
    """A cancel whose answer is lost (applied or not) ends cancelled, with no 409 shown."""
    async with make_client(simulator) as client:
        project_id = (await client.projects.create("stop me")).id
        simulator.set_faults(**{fault: 1.0}, only="POST /v1/projects/", count=1)
        project = await client.projects.cancel(project_id)
    assert project.status is ProjectStatus.CANCELLED
    assert entered(simulator, project_id, "cancelled") == 1
    expected = ["error_500", "200"] if fault == "error_500" else ["drop"]
    assert posts(simulator, "cancel") == expected


async def test_cancel_lost_while_the_project_failed_raises_the_conflict(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that did not apply, of a project that failed before the resend, is a 409."""

    async def fail_now() -> None:
        simulator.fail_project(project_id)
        simulator.advance(3_600)

    async with make_client(simulator) as client:
        project_id = (await client.projects.create("fails meanwhile")).id
        simulator.set_faults(error_500=1.0, only="POST /v1/projects/", count=1)
        after_first_check(monkeypatch, client, fail_now)
        with pytest.raises(ConflictError, match="failed"):
            await client.projects.cancel(project_id)
    assert entered(simulator, project_id, "cancelled") == 0
    assert entered(simulator, project_id, "failed") == 1
    assert posts(simulator, "cancel") == ["error_500", "409"]


async def test_cancel_done_elsewhere_before_the_resend_is_returned(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the project is cancelled between the check and the resend, the resend's 409 is
    checked again and the cancelled project returned."""
    async with make_client(simulator) as client, make_client(simulator) as other:
        project_id = (await other.projects.create("cancelled twice")).id
        simulator.set_faults(error_500=1.0, only="POST /v1/projects/", count=1)

        async def cancel_elsewhere() -> None:
            await other.projects.cancel(project_id)

        after_first_check(monkeypatch, client, cancel_elsewhere)
        project = await client.projects.cancel(project_id)
    assert project.status is ProjectStatus.CANCELLED
    assert entered(simulator, project_id, "cancelled") == 1
    assert posts(simulator, "cancel") == ["error_500", "200", "409"]


# -- send_message ---------------------------------------------------------------


async def failed_twice(sim: Simulator, client: AsyncVideoAgent) -> str:
    """A project that failed, was retried with ``"retry"`` and failed again; its id."""
    project_id = (await client.projects.create("fragile")).id
    sim.fail_project(project_id)
    await settled(sim, client, project_id)
    sim.fail_project(project_id)  # the retry's run fails too
    await client.projects.send_message(project_id, "retry")
    assert (await settled(sim, client, project_id)).status is ProjectStatus.FAILED
    return project_id


@pytest.mark.parametrize("fault", ["error_500", "drop"])
async def test_same_message_again_after_a_lost_answer_is_sent_exactly_once(
    simulator: Simulator, fault: str
) -> None:
    """The same retry text sent a second time on purpose, its answer lost, is one new message."""
    async with make_client(simulator) as client:
        project_id = await failed_twice(simulator, client)
        before = await user_messages(client, project_id)
        simulator.set_faults(**{fault: 1.0}, only="POST /v1/projects/", count=1)
        accepted = await client.projects.send_message(project_id, "retry")
        after = await user_messages(client, project_id)
    assert len(before) == 1
    assert after == [*before, accepted.message.id]
    assert accepted.message.content == "retry"
    assert accepted.project.status is ProjectStatus.QUEUED
    resend = ["error_500", "202"] if fault == "error_500" else ["drop"]
    assert posts(simulator, "messages") == ["202", *resend]


async def test_message_applied_and_already_at_the_next_decision_is_not_resent() -> None:
    """Feedback whose answer is lost and whose run already reached the next decision point is
    found, not sent again, even with the same text as the previous feedback."""
    async with Simulator(
        time_scale=SCALE, seed=7, durations=INSTANT_RENDER, decision_points=(3, 3)
    ) as sim:
        async with make_client(sim) as client:
            project_id = (await client.projects.create("guided", mode="collaborative")).id
            await settled(sim, client, project_id)
            first = await client.projects.send_message(project_id, "yes")
            await settled(sim, client, project_id)
            sim.set_faults(drop=1.0, only="POST /v1/projects/", count=1)
            accepted = await client.projects.send_message(project_id, "yes")
            users = await user_messages(client, project_id)
        assert users == [first.message.id, accepted.message.id]
        assert accepted.project.status is ProjectStatus.IDLE  # the third decision point
        assert not accepted.project.has_result
        assert posts(sim, "messages") == ["202", "drop"]


async def test_message_applied_and_already_failed_is_found(instant: Simulator) -> None:
    """A retry whose answer is lost and whose run already failed again is found, not resent."""
    async with make_client(instant) as client:
        project_id = (await client.projects.create("fails at once")).id
        instant.fail_project(project_id)
        await settled(instant, client, project_id)
        instant.fail_project(project_id)
        instant.set_faults(drop=1.0, only="POST /v1/projects/", count=1)
        accepted = await client.projects.send_message(project_id, "again")
        users = await user_messages(client, project_id)
    assert users == [accepted.message.id]
    assert accepted.project.status is ProjectStatus.FAILED
    assert posts(instant, "messages") == ["drop"]
