"""What ``events()`` and ``on_event`` report: status changes, decision points, messages, credits."""

from __future__ import annotations

import anyio
from watch_helpers import SimFactory, client_for

from videoagent import ProjectWatcher
from videoagent._events import (
    AgentMessage,
    CreditsLow,
    DecisionPoint,
    StatusChanged,
    WatchEvent,
)


async def _collect_until(
    events: object, stop: type, *, count: int = 1, limit: float = 30
) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    with anyio.fail_after(limit):
        async for event in events:  # type: ignore[attr-defined]
            seen.append(event)
            if sum(isinstance(e, stop) for e in seen) >= count:
                break
    return seen


async def test_an_autonomous_project_reports_each_status_and_its_summary(
    make_simulator: SimFactory,
) -> None:
    """``events(id)``: queued, running, generating, rendering, idle, then the agent's summary."""
    async with make_simulator() as sim, client_for(sim) as client:
        async with ProjectWatcher(client) as watcher:
            project = await client.projects.create("teaser")
            events = watcher.events(project.id)
            watcher.watch(project)
            seen = await _collect_until(events, AgentMessage)
        changes = [(e.previous, e.project.status) for e in seen if isinstance(e, StatusChanged)]
        assert [str(s) for _, s in changes] == [
            "queued",
            "running",
            "generating",
            "rendering",
            "idle",
        ]
        assert changes[0][0] is None
        (message,) = [e for e in seen if isinstance(e, AgentMessage)]
        assert message.message.role == "agent"
        assert message.message.content.startswith("Done")


async def test_a_collaborative_project_stops_for_feedback_and_is_watched_after_the_reply(
    make_simulator: SimFactory,
) -> None:
    """A decision point is an event; after the reply the same watch reports the next run."""
    async with make_simulator(decision_points=(1, 1)) as sim, client_for(sim) as client:
        async with ProjectWatcher(client) as watcher:
            project = await client.projects.create("guided", mode="collaborative")
            callback: list[WatchEvent] = []
            events = watcher.events(project.id)
            watcher.watch(project, on_event=callback.append)
            first = await _collect_until(events, AgentMessage)
            (decision,) = [e for e in first if isinstance(e, DecisionPoint)]
            assert decision.question is not None
            assert decision.question.startswith("Decision point 1")
            assert (await watcher.wait(project.id)).has_result is False
            await client.projects.send_message(project.id, "go ahead, warmer colours")
            second = await _collect_until(events, AgentMessage)
            done = await watcher.wait(project.id)
        assert done.has_result is True
        assert not any(isinstance(e, DecisionPoint) for e in second)
        assert str(second[0].project.status) == "queued"  # type: ignore[union-attr]
        messages = [e.message for e in first + second if isinstance(e, AgentMessage)]
        assert [m.content.split(":")[0] for m in messages] == ["Decision point 1", "Done"]
        assert len({m.id for m in messages}) == 2  # the after= cursor: nothing twice
        assert [e for e in callback if not isinstance(e, CreditsLow)] == first + second
        fetches = [r for r in sim.request_log if r.path.endswith("/messages") and r.method == "GET"]
        assert len(fetches) == 3  # the watcher's two, and send_message's look before sending


async def test_a_low_balance_is_reported_once_per_balance(make_simulator: SimFactory) -> None:
    """Answers carrying ``credits_warning`` become ``CreditsLow`` events, once per new balance."""
    async with make_simulator() as sim:
        key = sim.add_account(credits=140)
        async with client_for(sim, key) as client, ProjectWatcher(client) as watcher:
            events = watcher.events()
            project = await client.projects.create("cheap")  # 140 - 50 = 90 < 100
            watcher.watch(project)
            await watcher.wait(project.id)
            await client.projects.get(project.id)
            seen = await _collect_until(events, AgentMessage)
        lows = [e for e in seen if isinstance(e, CreditsLow)]
        assert [(e.warning.balance, e.warning.threshold) for e in lows] == [(90, 100)]
