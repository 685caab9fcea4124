"""A faithful local simulator of the video-agent API.

An ``aiohttp.web`` server implementing every endpoint, body, header, limit
and error of the contract, in scaled time, with seeded randomness and fault
injection. It imports nothing from the client side of ``videoagent`` (only
the standard library, aiohttp and attrs).

In-process::

    async with Simulator(time_scale=0.01, seed=7) as sim:
        sim.base_url          # http://127.0.0.1:<port>/v1
        sim.api_key           # default account: 10,000 credits, free plan
        key = sim.add_account(credits=500, plan="pro")
        sim.advance(60)       # 60 contract seconds pass at once
        sim.stats(), sim.projects(), sim.request_log

From synchronous code or another event loop: :class:`BackgroundSimulator`
(same arguments and methods, served from its own thread). As a command::

    python -m videoagent.simulator --port 8080 --time-scale 0.01 --seed 7 --api-key KEY

prints ``<base_url> <api_key>`` as its first line and serves until SIGINT/SIGTERM.

Scaled time: every duration is in contract seconds and lasts ``time_scale``
real seconds each (phases, the 60 s window, ``Retry-After``, URL expiry).
A server whose next slot frees in ``w`` real seconds sends
``Retry-After: ceil(w / time_scale)`` and
``X-RateLimit-Reset: ceil(unix_now + w / time_scale)``. The *contract day*
of the daily limits is the UTC day of the virtual clock
``t0 + (unix_now - t0) / time_scale`` (``t0``: when the simulator started);
its ``Retry-After`` runs to that clock's next UTC midnight.

Results are served, unauthenticated, from a second loopback port
(:attr:`Simulator.files_url`), at pre-signed URLs that expire after 24
contract hours (410), honour ``Range``, and refuse (400) any request that
carries an ``Authorization`` header; :attr:`Simulator.download_log` lists them.

Control routes (loopback only, never under ``/v1``)::

    GET  /_sim/health                 POST /_sim/accounts {credits, plan, api_key, webhook_secret}
    POST /_sim/keys {api_key, name}   GET|PUT /_sim/faults {error_500, ..., only, count}
    GET  /_sim/clock                  POST /_sim/clock/advance {seconds}
    GET  /_sim/requests?offset=N      GET  /_sim/stats?api_key=K
    GET  /_sim/projects?api_key=K     POST /_sim/projects/{id}/fail
    GET  /_sim/webhook-secret         GET  /_sim/webhooks
"""

from ._clock import Clock
from ._faults import Faults
from ._records import DownloadRecord, ProjectSnapshot, RequestRecord, SimulatorStats
from ._server import Simulator
from ._settings import CONTRACT_DURATIONS, Settings
from ._thread import BackgroundSimulator
from ._webhooks import Delivery, sign

__all__ = [
    "CONTRACT_DURATIONS",
    "BackgroundSimulator",
    "Clock",
    "Delivery",
    "DownloadRecord",
    "Faults",
    "ProjectSnapshot",
    "RequestRecord",
    "Settings",
    "Simulator",
    "SimulatorStats",
    "sign",
]
