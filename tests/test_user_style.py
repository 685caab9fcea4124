"""A user's own test, written as the README tells users to: only the plugin's
``videoagent_env`` and ``AsyncVideoAgent()`` with no arguments. The client reads
``VIDEOAGENT_TIME_SCALE`` as the fixture sets it, so a project finishes in
seconds, not in the minutes of the real clock (the timeout proves it)."""

from __future__ import annotations

import pytest

from videoagent import AsyncVideoAgent, ProjectStatus
from videoagent.simulator import BackgroundSimulator


@pytest.mark.timeout(20)
async def test_a_project_finishes_in_seconds(videoagent_env: BackgroundSimulator) -> None:
    """Create, wait and download, configured by the environment alone."""
    async with AsyncVideoAgent() as client:
        project = await client.projects.create("a 20 s teaser for a coffee brand")
        done = await client.projects.wait(project.id)
        assert done.status is ProjectStatus.IDLE
        assert done.has_result
        assert client.time_scale == videoagent_env.time_scale
