"""Answers that arrive out of order: an older state never overrides a newer one."""

from __future__ import annotations

from datetime import timedelta

import attrs

from videoagent import AsyncVideoAgent, ProjectStatus
from videoagent._wiring import wiring_of


async def test_an_overtaken_idle_answer_keeps_the_slot(client: AsyncVideoAgent) -> None:
    """A poll answer older than the message that re-activated the project frees no slot."""
    project = await client.projects.create("a teaser")
    wiring = wiring_of(client)
    assert project.id in wiring.slots.held()
    stale = attrs.evolve(
        project,
        status=ProjectStatus.IDLE,
        updated_at=project.updated_at - timedelta(seconds=1),
    )
    wiring.ledger.observe(stale)
    assert project.id in wiring.slots.held()
    fresh = attrs.evolve(stale, updated_at=project.updated_at + timedelta(seconds=1))
    wiring.ledger.observe(fresh)
    assert project.id not in wiring.slots.held()
