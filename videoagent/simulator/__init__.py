"""A faithful local simulator of the video-agent API.

An ``aiohttp.web`` server that implements every endpoint, body, header,
limit and error of the contract, in scaled time, with seeded randomness and
fault injection. It imports nothing from the client side of ``videoagent``.

    async with Simulator(time_scale=0.01, seed=7) as sim:
        sim.base_url, sim.api_key

Also a command: ``python -m videoagent.simulator --port 8080``.
"""

from ._clock import Clock
from ._faults import Faults
from ._records import ProjectSnapshot, RequestRecord, SimulatorStats
from ._server import Simulator
from ._settings import CONTRACT_DURATIONS, Settings
from ._thread import BackgroundSimulator
from ._webhooks import Delivery, sign

__all__ = [
    "CONTRACT_DURATIONS",
    "BackgroundSimulator",
    "Clock",
    "Delivery",
    "Faults",
    "ProjectSnapshot",
    "RequestRecord",
    "Settings",
    "Simulator",
    "SimulatorStats",
    "sign",
]
