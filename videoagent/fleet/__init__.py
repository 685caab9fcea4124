"""Fleet mode: many processes and machines share one account's limits through Redis.

Example::

    from videoagent import AsyncVideoAgent
    from videoagent.fleet import RedisBackend

    backend = RedisBackend(url="redis://localhost:6379/0")
    async with AsyncVideoAgent(limits_backend=backend) as client:   # in every worker
        ...

Setting ``VIDEOAGENT_REDIS_URL`` does the same without code. Then, across
every process of the account:

- requests take slots from one sliding-window log in Redis (an atomic Lua
  script on Redis's clock), so together they never exceed the request limit;
  a 429 seen by one process pauses them all;
- creates (and messages, renders) wait for an active-project lease in one
  FIFO queue; a crashed process's leases come back on their own;
- each watched project is polled by one process; the others get its answers,
  and a webhook received by any replica reaches the one that polls.

To spread one batch's briefs over many processes and machines, run it on
Celery (``videoagent.integrations.celery``): Celery hands out the work, and
the workers share the limits through this backend.

When Redis is unreachable, requests wait and retry (fail closed) and resume
when it is back; a Redis that lost its data makes everyone wait one window.
Needs the ``redis`` extra (``pip install 'videoagent[redis]'``).
"""

from ._backend import RedisBackend
from ._runtime import FleetRuntime, FleetStatistics
from ._slots import SlotWaitTimeoutError

__all__ = ["FleetRuntime", "FleetStatistics", "RedisBackend", "SlotWaitTimeoutError"]
