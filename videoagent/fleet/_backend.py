"""``RedisBackend``: the configuration that puts a client's limits in Redis."""

from __future__ import annotations

from typing import Literal

import attrs

from videoagent._config import Limits

from ._runtime import FleetRuntime

__all__ = ["RedisBackend"]


@attrs.frozen(kw_only=True)
class RedisBackend:
    """Share the account's limits with every process that uses the same Redis.

    Example::

        backend = RedisBackend(url="redis://redis:6379/0")
        async with AsyncVideoAgent(limits_backend=backend) as client: ...

    (or set ``VIDEOAGENT_REDIS_URL``). Every process of the account then takes
    its requests from one sliding log, its active-project slots from one set
    of leases, and polls each watched project in one process only.

    Attributes:
        url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``); a
            password in it never appears in a log line or a repr.
        account: the account's name in Redis; default: a hash of the API key
            (the key itself never reaches Redis). Give every key of one
            account the same name: the limits are per account.
        prefix: the first part of every Redis key and channel.
        lease: real seconds after which a silent process counts as gone: its
            projects are watched by others, its slots freed (after two
            leases, unless another process adopts them). The heartbeat runs
            every ``lease / 4``.
        connect_timeout, socket_timeout: real seconds for one Redis connect
            and one answer; past them Redis counts as away (requests wait).
        polling: who polls the projects a client makes active, so that their
            slots free when they end. ``"watchers"`` (default): the client's
            own watcher, until each is seen to end. ``"queue"``: a job
            queue's poll steps (``videoagent.integrations.celery``, or your
            own tasks calling ``client.projects.poll``): nothing else polls
            them, and a project seen to end in any process frees its slot,
            whichever process holds it. Use it only where each project is
            polled by one task at a time, after the task that made it active.
        slot_wait: real seconds a create, message or render waits at most for
            an active-project slot before it raises ``SlotWaitTimeoutError``
            (nothing sent); ``None`` (default): as long as it takes. For job
            queue workers, whose tasks must not hold a worker while the
            account's projects run (the task schedules itself again).
    """

    url: str = attrs.field(repr=False)
    account: str | None = None
    prefix: str = "videoagent"
    lease: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    connect_timeout: float = attrs.field(default=2.0, validator=attrs.validators.gt(0))
    socket_timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    polling: Literal["watchers", "queue"] = attrs.field(
        default="watchers", validator=attrs.validators.in_(("watchers", "queue"))
    )
    slot_wait: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )

    def connect(
        self, *, api_key: str, limits: Limits, time_scale: float, timeout: float
    ) -> FleetRuntime:
        """One client's connection (entered by the client with ``async with``)."""
        return FleetRuntime(
            self, api_key=api_key, limits=limits, time_scale=time_scale, timeout=timeout
        )
