"""Test your own app against the simulated video-agent API: a pytest plugin.

Installed with ``videoagent`` (entry point ``pytest11``), so its fixtures are
there in every pytest run with nothing to import. They work the same in
plain synchronous tests, under pytest-asyncio and under anyio: the simulator
serves from its own thread and event loop.

Fixtures:

* ``videoagent_simulator``: a fresh :class:`~videoagent.simulator.BackgroundSimulator`
  on a free loopback port (``base_url``, ``api_key``, ``advance()``,
  ``set_faults()``, ``stats()``, ``projects()``, ``request_log`` ...).
* ``videoagent_env``: the same simulator, with ``VIDEOAGENT_BASE_URL``,
  ``VIDEOAGENT_API_KEY`` and ``VIDEOAGENT_TIME_SCALE`` (its time scale) set for
  the test, so code that reads its configuration from the environment (the
  ``videoagent`` command included) talks to it unchanged.
* ``videoagent_simulator_options``: the keyword arguments the simulator is made
  with (default ``time_scale=0.01, seed=0``); override this fixture, or mark a
  test with ``@pytest.mark.videoagent_simulator(time_scale=..., ...)``.

Example::

    def test_my_app_renders(videoagent_env):
        assert my_app.make_video("a teaser").status == "idle"

Importing this module is cheap (pytest loads it in every run): neither the
simulator nor aiohttp loads until a fixture runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from videoagent.simulator import BackgroundSimulator

__all__ = [
    "pytest_configure",
    "videoagent_env",
    "videoagent_simulator",
    "videoagent_simulator_options",
]

_MARKER = "videoagent_simulator"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``videoagent_simulator`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): keyword arguments for this test's videoagent simulator",
    )


@pytest.fixture
def videoagent_simulator_options() -> dict[str, Any]:
    """Keyword arguments of the simulator: 100x faster than real, seeded."""
    return {"time_scale": 0.01, "seed": 0}


@pytest.fixture
def videoagent_simulator(
    request: pytest.FixtureRequest, videoagent_simulator_options: dict[str, Any]
) -> Iterator[BackgroundSimulator]:
    """A fresh simulated API on loopback, served from a background thread."""
    from videoagent.simulator import BackgroundSimulator  # noqa: PLC0415 - keeps the plugin cheap

    options = dict(videoagent_simulator_options)
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        options.update(marker.kwargs)
    with BackgroundSimulator(**options) as simulator:
        yield simulator


@pytest.fixture
def videoagent_env(
    videoagent_simulator: BackgroundSimulator, monkeypatch: pytest.MonkeyPatch
) -> BackgroundSimulator:
    """The simulator, with ``VIDEOAGENT_BASE_URL``, ``_API_KEY`` and ``_TIME_SCALE`` set to it."""
    monkeypatch.setenv("VIDEOAGENT_BASE_URL", videoagent_simulator.base_url)
    monkeypatch.setenv("VIDEOAGENT_API_KEY", videoagent_simulator.api_key)
    monkeypatch.setenv("VIDEOAGENT_TIME_SCALE", repr(videoagent_simulator.time_scale))
    return videoagent_simulator
