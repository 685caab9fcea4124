"""The Celery app and tasks' settings: the engine's sharp edges, set on purpose."""

from __future__ import annotations

import pytest
from celery import Celery

from videoagent import ConfigurationError
from videoagent.integrations import celery as integration
from videoagent.integrations._celery_config import CelerySettings, make_worker_client, settings
from videoagent.integrations._celery_tasks import PerProcess

SETTINGS = CelerySettings(
    redis_url="redis://127.0.0.1:1/0", broker_url=None, time_scale=1.0, visibility_timeout=600.0
)


def test_tasks_installed_in_your_own_app_are_acked_late_within_the_visibility_timeout() -> None:
    """``install``: each task acks late, comes back if its worker is lost, ends in time."""
    app = Celery("mine", broker="memory://", set_as_current=False)
    integration.install(app, SETTINGS)
    for name in integration.TASK_NAMES:
        task = app.tasks[name]
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.soft_time_limit is not None
        assert task.time_limit is not None
        assert task.soft_time_limit < task.time_limit < SETTINGS.visibility_timeout
    poll, download = app.tasks[integration.TASK_NAMES[1]], app.tasks[integration.TASK_NAMES[2]]
    assert poll.time_limit < download.time_limit  # a poll is short; a big video is not


def test_the_transport_sweeps_a_dead_workers_messages_back_within_the_timeout() -> None:
    """The visibility timeout is the one set; the sweep runs every quarter of it (at most 10 s)."""
    assert integration.transport_options(SETTINGS) == {
        "visibility_timeout": 600.0,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    short = CelerySettings(redis_url=None, broker_url=None, time_scale=0.01, visibility_timeout=4)
    assert integration.transport_options(short)["unacked_restore_interval"] == 1
    assert short.step_time_limit < short.visibility_timeout
    assert short.slot_wait < short.step_time_limit


def test_each_process_makes_its_own_client_after_a_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value made before a fork is never used in the child: the child makes its own."""
    made: list[int] = []
    holder = PerProcess(lambda: made.append(len(made)) or len(made))
    parent = holder.get()
    assert holder.get() == parent  # one per process
    monkeypatch.setattr("os.getpid", lambda: -1)  # now in a forked child
    assert holder.get() != parent
    assert len(made) == 2
    assert holder.take() is not None
    assert holder.take() is None


def test_settings_name_what_is_missing_or_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Redis URL for a worker's client, or a timeout that is no number: one clear error."""
    monkeypatch.delenv("VIDEOAGENT_REDIS_URL", raising=False)
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_REDIS_URL"):
        make_worker_client()
    monkeypatch.setenv("VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_CELERY_VISIBILITY_TIMEOUT"):
        settings()
