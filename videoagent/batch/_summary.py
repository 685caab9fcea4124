"""What a batch reports: per-brief outcomes, live updates, and the summary of a run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs

from ._briefs import BriefProblem

__all__ = ["BatchSummary", "BriefOutcome", "BriefUpdate"]

OutcomeState = Literal["done", "failed", "pending"]


@attrs.frozen
class BriefUpdate:
    """A brief moved on (for progress displays): ``state`` is a project status or a step.

    Steps: ``creating``, ``resuming`` (a project an earlier run made),
    ``replying`` (a decision point), ``retrying`` (a failed run),
    ``rendering`` (a re-render sent), ``downloading``, ``done``, ``failed``,
    ``stopped`` (left for the next run: running, by a graceful stop, or not
    created as the credits ran low); else the project's status
    (``run failed`` for a failed run, which may yet be retried). A brief has
    no update before its turn (``concurrency``) comes; a wait for an
    active-project slot or the request budget happens inside its step
    (``creating``, ``replying``, ``retrying``, ``rendering``).
    """

    index: int
    name: str
    state: str
    project_id: str | None = None
    detail: str | None = None


@attrs.frozen
class BriefOutcome:
    """Where one brief ended up in this run.

    Attributes:
        state: ``done`` (verified file at ``path``), ``failed`` (``error``,
            ``request_id``) or ``pending`` (not finished: interrupted, resume it).
            A brief whose re-render the account refused is ``failed`` with a
            verified file all the same: its first result, at ``path``.
        resumed: finished by an earlier run of the same batch (nothing was sent now).
        retries: failed runs retried by message; ``replies``: decision points answered.
    """

    index: int
    name: str
    state: OutcomeState
    project_id: str | None = None
    path: str | None = None
    sha256: str | None = None
    size: int | None = None
    error: str | None = None
    request_id: str | None = None
    retries: int = 0
    replies: int = 0
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready values."""
        return attrs.asdict(self)


@attrs.frozen
class BatchSummary:
    """The result of ``BatchRunner.run``: what was done, failed, skipped, and at what cost.

    Attributes:
        done, failed, pending: the outcomes, by brief index.
        skipped: records not sent: bad input (``--skip-invalid``) or beyond the
            credits (``allow_partial``).
        credits_used: the account's balance before the run minus after it
            (``None`` if the last look failed).
        wall_time: seconds from start to end of the run.
        requests: HTTP requests this run made to the API, retries included
            (``None`` when the runner was given a client it cannot count).
        interrupted: a graceful stop (Ctrl-C) ended the run early.
        journal: the journal's path (``None``: no journal).
        journal_writes, journal_seconds: journal transactions and the seconds
            spent awaiting them.
    """

    batch_id: str
    out: str
    done: tuple[BriefOutcome, ...]
    failed: tuple[BriefOutcome, ...]
    pending: tuple[BriefOutcome, ...]
    skipped: tuple[BriefProblem, ...]
    credits_used: int | None
    wall_time: float
    requests: int | None
    interrupted: bool = False
    journal: str | None = None
    journal_writes: int = 0
    journal_seconds: float = 0.0

    @classmethod
    def of(
        cls,
        outcomes: Iterable[BriefOutcome],
        *,
        skipped: Sequence[BriefProblem],
        **fields: Any,
    ) -> BatchSummary:
        """The summary of these outcomes (a skipped brief's left out: it is listed in
        ``skipped``); ``fields``: the other attributes."""
        left_out = {p.index for p in skipped}
        kept = [o for o in outcomes if o.index not in left_out]
        return cls(
            done=tuple(o for o in kept if o.state == "done"),
            failed=tuple(o for o in kept if o.state == "failed"),
            pending=tuple(o for o in kept if o.state == "pending"),
            skipped=tuple(sorted(skipped, key=lambda p: p.index if p.index is not None else -1)),
            **fields,
        )

    @property
    def ok(self) -> bool:
        """Every brief is done (nothing failed, pending or skipped)."""
        return not (self.failed or self.pending or self.skipped)

    @property
    def exit_code(self) -> int:
        """The command's exit status: 130 interrupted, 1 some failed or left, 0 all done."""
        if self.interrupted:
            return 130
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (what ``--json`` prints)."""
        return {
            "batch_id": self.batch_id,
            "out": self.out,
            "journal": self.journal,
            "counts": {
                "done": len(self.done),
                "failed": len(self.failed),
                "pending": len(self.pending),
                "skipped": len(self.skipped),
            },
            "done": [o.to_dict() for o in self.done],
            "failed": [o.to_dict() for o in self.failed],
            "pending": [o.to_dict() for o in self.pending],
            "skipped": [
                {"where": p.where, "reason": p.message, "index": p.index} for p in self.skipped
            ],
            "credits_used": self.credits_used,
            "wall_time": round(self.wall_time, 3),
            "requests": self.requests,
            "interrupted": self.interrupted,
            "journal_writes": self.journal_writes,
            "journal_seconds": round(self.journal_seconds, 6),
        }
