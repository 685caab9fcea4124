"""Before a run sends anything: the briefs done earlier, what the plan allows, a clean ``out``.

(The credits check, also made before anything is sent, lives in ``_credits``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from videoagent._models import Account

from ._briefs import Brief, BriefFileError, BriefProblem, BriefSet, briefs_from, sendable
from ._summary import BriefOutcome, OutcomeState
from ._work import BriefWork

__all__ = [
    "PRO_PLAN",
    "brief_window",
    "check_plan",
    "checked",
    "prepare_out",
    "resume_done",
    "resumed_outcome",
]

#: The plan a 4K render needs (the contract: otherwise 403 ``forbidden``).
PRO_PLAN = "pro"


def brief_window(active_slots: int | None, *, retries: int, concurrency: int | None) -> int:
    """Check a runner's ``retries`` and ``concurrency``; the briefs in progress at once
    (default: the active slots, and 2 more waiting for one)."""
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    return concurrency or (active_slots or 5) + 2


def checked(
    briefs: BriefSet | Iterable[str | Brief | Mapping[str, Any]], *, skip_invalid: bool
) -> tuple[BriefSet, list[BriefProblem]]:
    """The briefs to send, and the bad records to skip (``skip_invalid``).

    No briefs at all (an empty list, a file of comments) raises
    ``BriefFileError``: a batch of nothing is a mistake upstream. So do bad
    records, unless ``skip_invalid``.
    """
    brief_set = sendable(briefs) if isinstance(briefs, BriefSet) else briefs_from(briefs)
    if not brief_set.briefs and not brief_set.problems:
        raise BriefFileError.no_briefs(brief_set.source)
    if brief_set.problems and not skip_invalid:
        raise BriefFileError(brief_set.problems)
    return brief_set, list(brief_set.problems)


async def resume_done(work: Sequence[BriefWork]) -> None:
    """Settle each brief an earlier run finished whose file is still there at its size.

    Done, or failed with its first result kept (the account refused its re-render).
    """
    for item in work:
        entry = item.entry
        if entry.state == "done" or (entry.state == "failed" and item.render_refused):
            item.outcome = await resumed_outcome(
                item, entry.path, entry.size, entry.sha256, error=entry.error
            )


async def resumed_outcome(
    item: BriefWork,
    path: str | None,
    size: int | None,
    sha256: str | None,
    *,
    error: str | None = None,
) -> BriefOutcome | None:
    """The brief an earlier run finished, if its file is at ``path`` with ``size`` bytes.

    Done; failed with that file if ``error`` (a refused re-render) is given.
    """
    if path is None or size is None:
        return None
    try:
        stat = await anyio.Path(path).stat()
    except OSError:
        return None
    if stat.st_size != size:
        return None
    state: OutcomeState = "done" if error is None else "failed"
    return item.to_outcome(state, path=path, sha256=sha256, size=size, error=error, resumed=True)


def check_plan(
    account: Account, work: Sequence[BriefWork], skipped: list[BriefProblem], *, skip_invalid: bool
) -> None:
    """Find what the account's plan cannot make before any credit is spent: a 4K render.

    Without the Pro plan, a new brief (no project yet) asking for a 4K render
    raises ``BriefFileError`` naming it (nothing was sent), or with
    ``skip_invalid`` ends ``pending`` and is added to ``skipped``. (A brief
    with a project has spent its credits: its render is sent, and a refusal
    keeps its first result.) On the Pro plan, a brief whose 4K render an
    earlier run saw refused is opened again, to render now.
    """
    problems: list[BriefProblem] = []
    for item in work:
        if item.brief.render != "4k" or item.rendered:
            continue
        if account.plan == PRO_PLAN:
            if item.render_refused is not None:
                item.render_refused, item.outcome = None, None
            continue
        if item.outcome is None and item.project_id is None:
            problems.append(
                BriefProblem(
                    item.brief.source or f"brief {item.brief.index + 1}",
                    f"render 4k needs the Pro plan, and the account is on the {account.plan} plan",
                    item.brief.index,
                )
            )
    if problems and not skip_invalid:
        raise BriefFileError(problems)
    refused = {problem.index for problem in problems}
    for item in work:
        if item.brief.index in refused:
            item.outcome = item.to_outcome("pending")
    skipped.extend(problems)


def prepare_out(out: Path, work: Sequence[BriefWork]) -> None:
    """Make ``out``, and remove partial downloads a killed run left of the open briefs."""
    out.mkdir(parents=True, exist_ok=True)
    for item in work:
        if item.outcome is None:
            for partial in out.glob(f".{item.entry.file_name}.*.part"):
                partial.unlink(missing_ok=True)
