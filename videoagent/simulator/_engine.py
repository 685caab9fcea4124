"""The project lifecycle, advanced lazily from timestamps.

No task runs per project: each project stores when its current phase ends
(``next_at``) and :meth:`Engine.advance` replays every transition whose time
has passed, at the exact instant it happened, whenever the project is touched.

A *plan* run (create, or a message) goes ``queued -> running`` and then either
stops at a decision point (collaborative mode, decision points left: ``idle``
with a question) or goes on ``generating -> rendering -> idle`` with a result.
A *render* run goes ``rendering -> idle`` with a new result. A run may fail at
the end of one of its phases (``failed``), drawn with ``failure_rate`` or
forced by :meth:`Engine.force_failure`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ._clock import Clock
from ._ids import IdFactory
from ._model import ACTIVE, Message, Project
from ._settings import Settings

__all__ = ["Engine", "StatusChange"]

#: (project, new status, unix time of the change)
StatusChange = Callable[[Project, str, float], None]

_PLAN = ("queued", "running", "generating", "rendering")
_RENDER = ("rendering",)
#: progress band of each active status
_BANDS = {
    "queued": (0.0, 0.05),
    "running": (0.05, 0.35),
    "generating": (0.35, 0.85),
    "rendering": (0.85, 1.0),
}


class Engine:
    """Starts runs, replays transitions, and reports every status change."""

    def __init__(self, settings: Settings, clock: Clock, ids: IdFactory, seed: int | None) -> None:
        self._settings = settings
        self._clock = clock
        self._ids = ids
        self._seed = seed
        self._random = random.Random(seed)
        #: called for every status change (the webhook dispatcher listens)
        self.on_change: StatusChange | None = None
        #: called whenever a project with a webhook gets a new ``next_at``
        self.on_schedule: Callable[[Project], None] | None = None

    # -- runs ------------------------------------------------------------

    def decision_points(self) -> int:
        """How many decision points a new collaborative project will have."""
        low, high = self._settings.decision_points
        return self._random.randint(low, high)

    def start(self, project: Project, kind: str, now: float) -> None:
        """Begin a run (``"plan"`` or ``"render"``) at ``now``: the project becomes active."""
        project.runs += 1
        statuses = _PLAN if kind == "plan" else _RENDER
        rng = (
            random.Random(f"{self._seed}/{project.id}/{project.runs}")
            if self._seed is not None
            else self._random
        )
        scale = self._clock.time_scale
        project.run_kind = "plan" if kind == "plan" else "render"
        project.durations = {
            status: rng.uniform(*self._settings.durations[status]) * scale for status in statuses
        }
        project.fail_at = None
        if project.fail_next:
            project.fail_next = False
            project.fail_at = statuses[0]
        elif self._settings.failure_rate and rng.random() < self._settings.failure_rate:
            project.fail_at = rng.choice(statuses)
        project.error_message = None
        project.has_result = False
        self._enter(project, statuses[0], now)

    def force_failure(self, project: Project, now: float) -> None:
        """Make ``project`` fail at the end of its current phase (or its next run's first)."""
        self.advance(project, now)
        if project.status in ACTIVE:
            project.fail_at = project.status
        else:
            project.fail_next = True

    def cancel(self, project: Project, now: float) -> None:
        """Stop the project at ``now``."""
        project.has_result = False
        project.fail_next = False
        self._enter(project, "cancelled", now)

    # -- replay ----------------------------------------------------------

    def advance(self, project: Project, now: float) -> None:
        """Apply every transition of ``project`` due at or before ``now``."""
        while project.next_at is not None and project.next_at <= now:
            self._step(project, project.next_at)

    def advance_active(self, projects: set[Project], now: float) -> None:
        """Advance each of ``projects`` (an account's active set) to ``now``."""
        for project in list(projects):
            self.advance(project, now)

    def time_to_rest(self, project: Project) -> float:
        """Real seconds from ``phase_started`` until the current run would end."""
        if project.status not in ACTIVE:
            return 0.0
        statuses = _PLAN if project.run_kind == "plan" else _RENDER
        later = statuses[statuses.index(project.status) :]
        deciding = project.mode == "collaborative" and project.decision_points_left > 0
        if project.run_kind == "plan" and deciding:
            later = tuple(s for s in later if s in ("queued", "running"))
        return sum(project.durations[s] for s in later)

    def progress(self, project: Project, now: float) -> float | None:
        """A 0..1 estimate for active projects, 1.0 with a result, else None."""
        if project.status in ACTIVE:
            low, high = _BANDS[project.status]
            span = project.durations.get(project.status, 0.0)
            done = 1.0 if span <= 0 else min(1.0, max(0.0, (now - project.phase_started) / span))
            return round(low + (high - low) * done, 4)
        return 1.0 if project.has_result else None

    def _step(self, project: Project, at: float) -> None:
        status = project.status
        if project.fail_at == status:
            project.fail_at = None
            project.error_message = f"The agent failed while {status}; send a message to retry."
            self._enter(project, "failed", at)
        elif status == "queued":
            self._enter(project, "running", at)
        elif status == "running":
            if project.mode == "collaborative" and project.decision_points_left > 0:
                self._decide(project, at)
            else:
                self._enter(project, "generating", at)
        elif status == "generating":
            self._enter(project, "rendering", at)
        else:  # rendering: the run is done
            self._finish(project, at)

    def _decide(self, project: Project, at: float) -> None:
        project.decision_points_left -= 1
        project.decisions_taken += 1
        question = (
            f"Decision point {project.decisions_taken}: here is my plan for "
            f"{project.brief[:80]!r}. Should I go ahead, or what should change?"
        )
        self._say(project, question, at)
        self._enter(project, "idle", at)

    def _finish(self, project: Project, at: float) -> None:
        project.version += 1
        project.has_result = True
        self._say(project, f"Done: your video is ready at {project.resolution}.", at)
        self._enter(project, "idle", at)

    def _say(self, project: Project, content: str, at: float) -> None:
        project.agent_message = content
        message = Message(
            id=self._ids.make("msg"),
            project_id=project.id,
            role="agent",
            content=content,
            created_at=self._unix(at),
        )
        project.add_message(message)

    def _unix(self, at: float) -> float:
        return self._clock.unix() - (self._clock.now() - at)

    def _enter(self, project: Project, status: str, at: float) -> None:
        project.status = status
        project.phase_started = at
        project.updated_at = self._unix(at)
        project.history.append((status, project.updated_at))
        active = project.account.active
        if status in ACTIVE:
            project.next_at = at + project.durations[status]
            if project not in active:
                active.add(project)
                account = project.account
                account.peak_active = max(account.peak_active, len(active))
            if project.webhook_url is not None and self.on_schedule is not None:
                self.on_schedule(project)
        else:
            project.next_at = None
            active.discard(project)
        if self.on_change is not None:
            self.on_change(project, status, project.updated_at)
