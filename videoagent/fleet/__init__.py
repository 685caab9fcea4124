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
  and a webhook received by any replica reaches the one that polls;
- a batch run by several processes (the same briefs and ``batch_id``)
  shares its briefs: each is claimed by one process, taken over when that
  process dies, and listed in that process's summary only. Runs that
  overlap in time are one run of the batch; a run started when no process
  is running it is a re-run: a brief failed before is retried afresh, by
  one process of the fleet (``videoagent.batch.BatchRunner``).

When Redis is unreachable, requests wait and retry (fail closed) and resume
when it is back; a Redis that lost its data makes everyone wait one window.
Needs the ``redis`` extra (``pip install 'videoagent[redis]'``).
"""

from ._backend import RedisBackend
from ._runtime import FleetRuntime, FleetStatistics

__all__ = ["FleetRuntime", "FleetStatistics", "RedisBackend"]
