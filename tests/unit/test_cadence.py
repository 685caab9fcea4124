"""The watcher's cadence and fairness rules, as pure functions of policy, status and time."""

from __future__ import annotations

import pytest

from videoagent._cadence import INF, fairness_key, interval, retry_delay, routine_delay
from videoagent._config import PollPolicy
from videoagent._models import ProjectStatus

POLICY = PollPolicy()


@pytest.mark.parametrize(
    ("status", "errors", "expected"),
    [
        (None, 0, 0.0),
        (None, 1, 30.0),
        (ProjectStatus.QUEUED, 0, 5.0),
        (ProjectStatus.RUNNING, 0, 30.0),
        (ProjectStatus.RENDERING, 0, 30.0),
        (ProjectStatus.UNKNOWN, 0, 30.0),
        (ProjectStatus.IDLE, 0, INF),
        (ProjectStatus.FAILED, 0, INF),
        (ProjectStatus.CANCELLED, 0, INF),
    ],
)
def test_each_status_has_the_contract_interval(
    status: ProjectStatus | None, errors: int, expected: float
) -> None:
    """Each status maps to its contract interval; a never-seen project polls at once."""
    got = interval(POLICY, status, errors=errors, since=0.0, now=0.0, time_scale=1.0)
    assert got == expected


def test_generating_starts_slow_and_reaches_the_fast_end() -> None:
    """Generating polls at the slow end at first and at the fast end past its typical length."""

    def at(elapsed: float) -> float:
        now = 1.0 + elapsed * 0.5
        return interval(
            POLICY, ProjectStatus.GENERATING, errors=0, since=1.0, now=now, time_scale=0.5
        )

    assert at(0.0) == 60.0
    assert at(75.0) == 45.0
    assert at(500.0) == 30.0


def test_webhooked_projects_poll_half_as_often_and_dormant_ones_never() -> None:
    """A hooked project's routine delay is stretched; a terminal one has none."""

    def delay(status: ProjectStatus, hooked: bool) -> float:
        return routine_delay(
            POLICY, status, errors=0, since=0.0, now=0.0, time_scale=0.01, hooked=hooked
        )

    assert delay(ProjectStatus.RUNNING, hooked=False) == pytest.approx(0.3)
    assert delay(ProjectStatus.RUNNING, hooked=True) == pytest.approx(0.6)
    assert delay(ProjectStatus.IDLE, hooked=True) == INF


def test_a_retry_waits_the_unknown_interval_when_the_status_has_none() -> None:
    """A put-off poll of a never-seen or terminal project waits the unknown interval."""
    for status in (None, ProjectStatus.IDLE):
        got = retry_delay(POLICY, status, errors=0, since=0.0, now=0.0, time_scale=0.01)
        assert got == pytest.approx(0.3)


def test_parked_polls_closer_to_done_go_first_within_a_cap() -> None:
    """Rendering beats generating beats running at equal due times, by a bounded bonus."""
    keys = {
        status: fairness_key(100.0, status, 1.0)
        for status in (ProjectStatus.RENDERING, ProjectStatus.GENERATING, ProjectStatus.RUNNING)
    }
    assert keys[ProjectStatus.RENDERING] < keys[ProjectStatus.GENERATING]
    assert keys[ProjectStatus.GENERATING] < keys[ProjectStatus.RUNNING]
    assert fairness_key(100.0, None, 1.0) == 100.0
    assert fairness_key(100.0, ProjectStatus.RENDERING, 1.0) > 100.0 - 21.0
