"""One simulation: its clock, accounts, projects, engine, files, webhooks and faults.

Both the Python interface (:class:`~videoagent.simulator.Simulator`) and the
``/_sim/`` control routes call these methods, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._clock import Clock
from ._engine import Engine
from ._faults import FaultInjector, Faults
from ._files import VideoStore
from ._ids import IdFactory
from ._log import DEFAULT_LOG_SIZE, RecordLog
from ._model import Account, Project
from ._records import ProjectSnapshot, RequestRecord, SimulatorStats
from ._settings import Settings
from ._state import KeyLimitError, Registry
from ._webhooks import WebhookDispatcher

__all__ = ["Simulation"]


class Simulation:
    """Everything one simulator knows; no I/O of its own except webhook delivery."""

    def __init__(
        self,
        settings: Settings,
        *,
        time_scale: float,
        seed: int | None,
        webhook_secret: str | None,
        log_size: int | None = DEFAULT_LOG_SIZE,
    ) -> None:
        self.settings = settings
        self.clock = Clock(time_scale)
        self.ids = IdFactory(seed)
        self.registry = Registry(settings, self.clock, self.ids)
        self.engine = Engine(settings, self.clock, self.ids, seed)
        self.videos = VideoStore(self.clock, self.ids, settings.url_ttl, RecordLog(log_size))
        self.faults = FaultInjector(seed)
        self.webhooks = WebhookDispatcher(
            self.clock, self.ids, self.engine.advance, RecordLog(log_size)
        )
        self.engine.on_change = self.webhooks.emit
        self.engine.on_schedule = self.webhooks.schedule
        self.webhook_secret = webhook_secret or f"whsec_{self.ids.token(32)}"
        self.log_requests = True
        #: the newest ``/v1`` requests (``log_size`` of them)
        self.request_log: RecordLog[RequestRecord] = RecordLog(log_size)

    # -- accounts --------------------------------------------------------

    def add_account(
        self,
        *,
        credits: int = 10_000,
        plan: str = "free",
        api_key: str | None = None,
        webhook_secret: str | None = None,
    ) -> tuple[Account, str]:
        """A new account with one key; returns it and the key."""
        return self.registry.add_account(
            credits=credits,
            plan=plan,
            api_key=api_key,
            webhook_secret=webhook_secret or self.webhook_secret,
        )

    def add_key(self, api_key: str, *, name: str) -> str:
        """A new key of ``api_key``'s account (``ValueError`` past ``max_keys``)."""
        try:
            return self.registry.add_key(self.account(api_key), name=name).secret
        except KeyLimitError as exc:
            raise ValueError(str(exc)) from exc

    def account(self, api_key: str) -> Account:
        """The account of an active key (``KeyError`` if there is none)."""
        return self.registry.account_of(api_key)

    def _accounts(self, api_key: str | None) -> Iterable[Account]:
        if api_key is None:
            return self.registry.accounts.values()
        return (self.account(api_key),)

    # -- time and projects -----------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock forward ``seconds`` contract seconds."""
        self.clock.advance(seconds)

    def touch(self, project: Project) -> None:
        """Bring ``project`` up to date with the clock."""
        self.engine.advance(project, self.clock.now())

    def fail_project(self, project_id: str) -> Project:
        """Make a project fail at the end of its current phase (or its next run's first)."""
        project = self.registry.projects[project_id]
        self.engine.force_failure(project, self.clock.now())
        return project

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault rates."""
        self.faults.faults = faults

    # -- views for tests -------------------------------------------------

    def projects(self, api_key: str | None = None) -> tuple[ProjectSnapshot, ...]:
        """Every project of the key's account (all accounts when None), oldest first."""
        snapshots = []
        for account in self._accounts(api_key):
            for project in account.projects:
                self.touch(project)
                snapshots.append(
                    ProjectSnapshot(
                        id=project.id,
                        account=account.id,
                        status=project.status,
                        mode=project.mode,
                        brief=project.brief,
                        has_result=project.has_result,
                        metadata=dict(project.metadata),
                        idempotency_key=project.idempotency_key,
                        runs=project.runs,
                        renders=project.renders,
                        history=tuple(project.history),
                    )
                )
        return tuple(snapshots)

    def stats(self, api_key: str | None = None) -> SimulatorStats:
        """A summary of the key's account (all accounts when None)."""
        accounts = list(self._accounts(api_key))
        return SimulatorStats(
            accounts=len(accounts),
            requests=sum(a.requests for a in accounts),
            max_window_requests=max((a.window.peak for a in accounts if a.window), default=0),
            max_active_projects=max((a.peak_active for a in accounts), default=0),
            rate_limited=sum(a.rate_limited for a in accounts),
            project_limit=sum(a.project_limited for a in accounts),
            projects_created=sum(a.projects_created for a in accounts),
            renders_started=sum(a.renders_started for a in accounts),
            faults_injected=self.faults.injected,
            webhooks_sent=self.webhooks.deliveries.total,
        )

    def clock_view(self) -> dict[str, Any]:
        """The clock as the ``/_sim/clock`` route shows it."""
        clock = self.clock
        return {
            "time_scale": clock.time_scale,
            "unix": clock.unix(),
            "virtual": clock.virtual(),
            "day": clock.day(),
            "seconds_to_midnight": clock.seconds_to_midnight(),
        }
