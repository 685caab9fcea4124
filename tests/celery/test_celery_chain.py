"""A brief's chain of tasks: stale, duplicate and redelivered steps do no harm (real Redis).

These drive the steps in the test process (no worker): a redelivered task is
the same step run again, a duplicate (the visibility timeout's) is a step one
behind, a worker killed between a step's work and its hand-over is a step
whose state moved on but whose messages were not sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_helpers import FAST, SCALE
from redis import Redis
from redis_helpers import RedisServer

from videoagent import VideoAgent
from videoagent.batch import Brief
from videoagent.integrations._celery_store import BatchStore, Message, Policy
from videoagent.integrations._celery_tasks import CREATE, POLL, Busy, StepRunner
from videoagent.simulator import BackgroundSimulator


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    """A client of the test's redis-server (text answers)."""
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


def _store(
    redis: Redis, out: Path, count: int = 1, **policy: Any
) -> tuple[BatchStore, list[Message]]:
    """A batch of ``count`` briefs, its run opened: the store and the start messages."""
    store = BatchStore(redis, "chain-test")
    briefs = [Brief(f"a 10 s teaser, take {n}", index=n, **policy) for n in range(count)]
    entries = store.register(briefs)
    starts = store.open_run(Policy(str(out)), entries, concurrency=1, start=CREATE)
    return store, starts


def test_only_the_due_step_runs_and_one_copy_at_a_time(redis: Redis, tmp_path: Path) -> None:
    """A step one behind is stale; a second copy of the due step is busy until the first ends."""
    store, (start,) = _store(redis, tmp_path)
    gen = start.kwargs["gen"]
    assert store.begin(0, gen, "first", lock=5.0).outcome == "run"
    assert store.begin(0, gen, "second", lock=5.0).outcome == "busy"
    assert store.begin(0, gen - 1, "old", lock=5.0).outcome == "stale"
    assert store.begin(9, gen, "nobody", lock=5.0).outcome == "gone"
    store.unlock(0, "second")  # not its lock: nothing happens
    assert store.begin(0, gen, "third", lock=5.0).outcome == "busy"
    store.unlock(0, "first")
    assert store.begin(0, gen, "third", lock=5.0).outcome == "run"


def test_a_step_killed_before_its_hand_over_is_passed_on_by_its_redelivery(
    redis: Redis, tmp_path: Path
) -> None:
    """The state moved on but no message was sent: the redelivered step sends its outbox."""
    store, (start,) = _store(redis, tmp_path)
    gen = start.kwargs["gen"]
    poll = Message(POLL, {"batch_id": "chain-test", "index": 0, "gen": gen + 1}, 0.5)
    assert store.advance(0, gen, [poll], ended=False, start=CREATE) == [poll]
    begun = store.begin(0, gen, "again", lock=5.0)  # (the worker died here)
    assert (begun.outcome, begun.outbox) == ("resend", (poll,))
    store.sent(0, gen + 1)
    assert store.begin(0, gen, "late", lock=5.0).outcome == "stale"
    assert store.advance(0, gen, [poll], ended=False, start=CREATE) is None  # said nothing


def test_a_new_run_makes_the_old_chain_stale(redis: Redis, tmp_path: Path) -> None:
    """Opening the batch again restarts every open chain: the old messages exit at once."""
    store, (start,) = _store(redis, tmp_path)
    (restart,) = store.open_run(
        Policy(str(tmp_path)), store.entries([0]), concurrency=1, start=CREATE
    )
    assert restart.kwargs["gen"] == start.kwargs["gen"] + 1
    assert store.begin(0, start.kwargs["gen"], "old", lock=None).outcome == "stale"
    assert store.begin(0, restart.kwargs["gen"], "new", lock=None).outcome == "run"


def test_a_brief_that_ends_starts_the_next_unless_stopped(redis: Redis, tmp_path: Path) -> None:
    """At most ``concurrency`` briefs run: each that ends starts the next; a stop starts none."""
    store, starts = _store(redis, tmp_path, count=3)
    assert [m.kwargs["index"] for m in starts] == [0]
    assert store.waiting() == [1, 2]
    outbox = store.advance(0, starts[0].kwargs["gen"], [], ended=True, start=CREATE)
    assert outbox is not None
    ((task, kwargs),) = [(m.task, m.kwargs) for m in outbox]
    assert (task, kwargs["index"]) == (CREATE, 1)
    store.stop()
    assert store.waiting() == []
    assert store.advance(1, kwargs["gen"], [], ended=True, start=CREATE) == []


def test_a_lost_message_is_sent_again_once_its_chain_stalls(redis: Redis, tmp_path: Path) -> None:
    """A chain that has not moved for longer than its step could take gets its message again."""
    store, (start,) = _store(redis, tmp_path, count=2)
    assert store.stalled([0, 1], lambda message: 3600.0) == []  # within its patience
    assert store.stalled([0, 1], lambda message: -1.0) == [start]  # brief 1 waits: not started
    assert store.stalled([0, 1], lambda message: 3600.0) == []  # nudged: its patience anew


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    """The API on loopback, fast phases, decision points in collaborative mode."""
    with BackgroundSimulator(time_scale=SCALE, seed=3, durations=FAST) as sim:
        yield sim


def _steps(
    store: BatchStore, client: VideoAgent, sent: list[Message], *, lock: float | None = 5.0
) -> StepRunner:
    return StepRunner(store, client, sent.append, lock=lock)


def test_a_redelivered_create_makes_no_second_project(
    redis: Redis, simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """A create run again (its worker died before passing it on) replays the brief's key."""
    store, (start,) = _store(redis, tmp_path)
    sent: list[Message] = []
    with VideoAgent(simulator.api_key, simulator.base_url, time_scale=SCALE) as client:
        runner = _steps(store, client, sent)
        gen = start.kwargs["gen"]
        runner.run("create", 0, gen)
        first = store.entries([0])[0].project_id
        store.redis.hset(store.key("b:0"), mapping={"gen": gen, "sent": 1})  # as if not passed on
        store.record(0, project_id=None, state="pending")  # ... nor recorded
        runner.run("create", 0, gen)
        again = store.entries([0])[0].project_id
        runner.run("create", 0, gen)  # one behind now: stale, nothing sent
    assert first == again
    assert len(simulator.projects()) == 1
    assert [m.task for m in sent] == [POLL, POLL]


def test_a_reply_whose_step_is_run_again_is_not_sent_twice(
    redis: Redis, simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """At a decision point the poll step replies; run again, it finds the project moving on."""
    store, (start,) = _store(redis, tmp_path, mode="collaborative")
    sent: list[Message] = []
    with VideoAgent(simulator.api_key, simulator.base_url, time_scale=SCALE) as client:
        runner = _steps(store, client, sent)
        runner.run("create", 0, start.kwargs["gen"])
        project_id = store.entries([0])[0].project_id
        assert project_id is not None
        while True:  # poll until the decision point's reply went out
            message = sent[-1]
            assert message.task == POLL
            gen = message.kwargs["gen"]
            simulator.advance(60.0)
            runner.run("poll", 0, gen, since=None, previous=message.kwargs["previous"])
            if store.entries([0])[0].replies:
                break
        store.redis.hset(store.key("b:0"), mapping={"gen": gen, "sent": 1})  # not passed on
        runner.run("poll", 0, gen, since=None, previous=None)
        mine = [m for m in client.projects.messages(project_id) if m.role == "user"]
    assert len(mine) == 1
    assert sent[-1].task == POLL


def test_a_busy_step_is_left_to_the_copy_that_runs(
    redis: Redis, simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """A second copy of a running step raises Busy (the task retries it later): no request."""
    store, (start,) = _store(redis, tmp_path)
    with VideoAgent(simulator.api_key, simulator.base_url, time_scale=SCALE) as client:
        assert store.begin(0, start.kwargs["gen"], "running", lock=5.0).outcome == "run"
        with pytest.raises(Busy):
            _steps(store, client, []).run("create", 0, start.kwargs["gen"])
    assert simulator.request_log == []
