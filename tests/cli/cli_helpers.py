"""CLI test helpers: run ``videoagent`` as a user does, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from videoagent.simulator import BackgroundSimulator

#: Real seconds per contract second in the CLI tests.
SCALE = 0.002
#: Short phases: a run is about 50-115 contract seconds.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}
#: The installed console script (what README's first command runs).
VIDEOAGENT = str(Path(sys.executable).with_name("videoagent"))


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any VIDEOAGENT_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOAGENT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def sim_env(sim: BackgroundSimulator) -> dict[str, str]:
    """An environment pointing the command at ``sim``."""
    return clean_env(
        VIDEOAGENT_API_KEY=sim.api_key,
        VIDEOAGENT_BASE_URL=sim.base_url,
        VIDEOAGENT_TIME_SCALE=str(SCALE),
    )


def videoagent(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run the ``videoagent`` command; its completed process (output captured)."""
    return subprocess.run(
        [VIDEOAGENT, *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
