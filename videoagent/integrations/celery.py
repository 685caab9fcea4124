"""Celery: batches on workers across machines, one account's limits held by all.

Needs the ``celery`` extra (``pip install 'videoagent[celery]'``). Start
workers, on as many machines as you like, with the same environment::

    celery -A videoagent.integrations.celery worker --loglevel INFO

then submit a batch from anywhere that reaches the same Redis::

    videoagent batch briefs.txt --out /shared/videos --engine celery

Settings come from the environment (``_celery_config``): the API's
(``VIDEOAGENT_API_KEY``, ``_BASE_URL``, ``_TIME_SCALE``) and
``VIDEOAGENT_REDIS_URL``, where the account's limits and each batch's state
live (and the broker, unless ``CELERY_BROKER_URL`` names your own). ``app``
is this module's Celery app; to run the tasks in your own, ``install(app)``.

Each brief is a chain of short tasks (``_celery_tasks``): create, a poll
that schedules itself for when the status calls for the next one (no worker
sleeps through a project), the reply, retry or re-render its status calls
for, the verified download. Every worker process drives one blocking
``VideoAgent`` (``worker_client()``) whose limits are the fleet's Redis
backend: all processes of all machines share the 30 requests a minute and
the 5 active projects, and none causes a 429.

The engine's sharp edges, handled on purpose:

- **A worker lost mid-task** (``kill -9``, a machine gone): every task is
  ``acks_late`` with ``reject_on_worker_lost``, so its message is taken back
  (a prefork child's at once; a whole worker's after the visibility timeout)
  and runs again. Every step is idempotent: a step looks at its brief's state
  first (``_celery_store``: a stale or duplicate step exits at once, a step
  done but not passed on sends its messages again), a create replays its
  idempotency key, a reply, retry or render looks at the project before it
  is sent, and a download is verified and renamed into place (or found there).
- **The visibility timeout** of the Redis transport: a countdown task is held
  unacknowledged by the worker that took it until its time comes; past the
  visibility timeout it is delivered again, so a poll may arrive twice: each
  brief's steps are numbered, the second copy is one step behind and exits.
  A killed worker's tasks come back only after it: it is set on purpose
  (``VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT``, 30 minutes by default), and
  every task's hard time limit stays under it.
- **Prefork and the event loop**: the client is made in each child, on
  first use after the fork (a client made before it, in the parent, is never
  used by a child: each process has its own, told apart by its pid), and
  closed when the child shuts down.
- **Time limits**: a step (a create or a poll, with the action it calls for)
  has a short limit, scaled like every wait of the SDK; a download (real
  bytes, not scaled) a long one. A step never waits long for an active slot:
  it schedules itself again and frees its worker.
- **Retries**: the SDK retries requests (``Retry-After``, backoff, a resend
  that checks what arrived); a task is retried by Celery only for what the
  SDK cannot cover: the batch's state in Redis out of reach, another copy of
  the same step running, a soft time limit passed.
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from videoagent._errors import ConfigurationError

from ._celery_config import CelerySettings, settings
from ._celery_runner import CeleryBatchRunner
from ._celery_store import BatchStore, Message
from ._celery_tasks import (
    CREATE,
    DOWNLOAD,
    POLL,
    Busy,
    PerProcess,
    StepRunner,
    close_worker_client,
    worker_client,
)

__all__ = [
    "TASK_NAMES",
    "CeleryBatchRunner",
    "app",
    "install",
    "make_app",
    "transport_options",
    "worker_client",
]

#: The tasks ``install`` registers (route them as you like in your own app).
TASK_NAMES = (CREATE, POLL, DOWNLOAD)


def make_app(config: CelerySettings | None = None) -> Celery:
    """A Celery app configured for videoagent's tasks, with them installed."""
    config = config or settings()
    celery = Celery("videoagent", broker=config.broker_url, set_as_current=False)
    celery.conf.update(
        broker_transport_options=transport_options(config),
        broker_connection_retry_on_startup=True,
        # acks_late: a message lost with its worker comes back; take one at a time.
        worker_prefetch_multiplier=1,
        # On a lost broker connection, unacknowledged messages are delivered again:
        # stop the tasks running them rather than run each twice at once.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
    )
    install(celery, config)
    return celery


def transport_options(config: CelerySettings | None = None) -> dict[str, Any]:
    """The Redis transport's options for videoagent's tasks (give them to your own app).

    The visibility timeout is set on purpose (see the module docstring), and
    the sweep that gives a dead worker's messages back runs every quarter of
    it (at most every 10 s; kombu's default sweep comes about every 100 s).
    """
    config = config or settings()
    return {
        "visibility_timeout": config.visibility_timeout,
        "unacked_restore_interval": max(1, min(10, round(config.visibility_timeout / 4))),
        "unacked_restore_throttle": 1,
    }


def install(celery: Celery, config: CelerySettings | None = None) -> None:
    """Register videoagent's batch tasks (``TASK_NAMES``) in your own Celery app.

    Their options come with them (``acks_late``, ``reject_on_worker_lost``,
    time limits, retries); with a Redis broker, give your app's
    ``broker_transport_options`` the ``transport_options()`` (the visibility
    timeout the time limits are set under, and a quick sweep).
    """
    config = config or settings()
    step_limit = config.step_time_limit
    download_limit = config.download_time_limit
    for name, kind, limit, lock in (
        (CREATE, "create", step_limit, True),
        (POLL, "poll", step_limit, True),
        (DOWNLOAD, "download", download_limit, False),  # safe twice at once: no lock
    ):
        celery.task(
            name=name,
            shared=False,  # this app's only (install puts them in each app asked)
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=max(1, math.floor(0.9 * limit)),
            time_limit=math.ceil(limit),
            ignore_result=True,
            max_retries=None,
            autoretry_for=(RedisConnectionError, RedisTimeoutError),
            retry_backoff=True,
            retry_backoff_max=30,
            retry_jitter=True,
        )(_step(kind, lock_for=math.ceil(limit) + 1.0 if lock else None))


def _step(kind: str, *, lock_for: float | None) -> Any:
    """The task function of one kind of step."""

    def step(self: Task[Any, Any], batch_id: str, index: int, gen: int, **kwargs: Any) -> None:
        def send(message: Message) -> None:
            self.app.send_task(
                message.task, kwargs=message.kwargs, countdown=message.countdown or None
            )

        runner = StepRunner(_store(batch_id), worker_client(), send, lock=lock_for)
        try:
            runner.run(kind, index, gen, **kwargs)
        except (Busy, SoftTimeLimitExceeded) as exc:
            # Another copy of this step runs (its lock expires with it), or this one
            # took too long: the step is done again later, from a fresh look.
            raise self.retry(exc=exc, countdown=min(5.0, (lock_for or 4.0) / 4)) from exc

    step.__name__ = step.__qualname__ = f"{kind}_step"
    return step


def _connect() -> Redis:
    url = settings().redis_url
    if url is None:
        raise ConfigurationError(
            "a videoagent Celery worker needs VIDEOAGENT_REDIS_URL: the batches' state lives there"
        )
    return Redis.from_url(url, decode_responses=True)


_redis = PerProcess(_connect)


def _store(batch_id: str) -> BatchStore:
    """The batch's state, over this process's Redis connection pool."""
    return BatchStore(_redis.get(), batch_id)


@signals.worker_process_shutdown.connect(weak=False)
def _closing_child(**_: object) -> None:
    """A prefork child (or a solo worker) shuts down: its client closes."""
    close_worker_client()


#: This module's app: ``celery -A videoagent.integrations.celery worker``.
app = make_app()
