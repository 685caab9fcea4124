"""Before a run sends anything: briefs done earlier, the credits check, a clean ``out``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from videoagent._errors import VideoAgentError

from ._briefs import BriefProblem
from ._pipeline import BriefWork
from ._summary import BriefOutcome

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent

__all__ = [
    "CREATE_COST",
    "BatchCreditsError",
    "check_credits",
    "prepare_out",
    "resume_done",
    "resumed_outcome",
]

#: Credits a create costs (the contract): the pre-flight needs this per new project.
CREATE_COST = 50


class BatchCreditsError(VideoAgentError):
    """The account's credits cannot cover the batch (50 a new project); nothing was sent."""

    def __init__(self, message: str, *, credits: int, needed: int) -> None:
        super().__init__(message)
        self.credits = credits
        self.needed = needed


async def resume_done(work: Sequence[BriefWork]) -> None:
    """Mark done each brief an earlier run finished whose file is still there at its size."""
    for item in work:
        entry = item.entry
        if entry.state == "done":
            item.outcome = await resumed_outcome(item, entry.path, entry.size, entry.sha256)


async def resumed_outcome(
    item: BriefWork, path: str | None, size: int | None, sha256: str | None
) -> BriefOutcome | None:
    """The brief done by an earlier run, if its file is at ``path`` with ``size`` bytes."""
    if path is None or size is None:
        return None
    try:
        stat = await anyio.Path(path).stat()
    except OSError:
        return None
    if stat.st_size != size:
        return None
    return item.to_outcome("done", path=path, sha256=sha256, size=size, resumed=True)


async def check_credits(
    client: AsyncVideoAgent,
    work: Sequence[BriefWork],
    skipped: list[BriefProblem],
    *,
    allow_partial: bool,
) -> int:
    """Check the credits cover every open brief without a project yet; the balance.

    Short: ``BatchCreditsError``, or with ``allow_partial`` the briefs beyond
    the credits end ``pending`` and are added to ``skipped``.
    """
    new = [item for item in work if item.outcome is None and item.project_id is None]
    account = await client.account.get()
    needed = CREATE_COST * len(new)
    if account.credits >= needed:
        return account.credits
    affordable = account.credits // CREATE_COST
    if not allow_partial:
        raise BatchCreditsError(
            f"the account has {account.credits:,} credits but the batch needs {needed:,} "
            f"({CREATE_COST} for each of {len(new)} new projects); top up, or allow a "
            f"partial run of the first {affordable}",
            credits=account.credits,
            needed=needed,
        )
    for item in new[affordable:]:
        item.outcome = item.to_outcome("pending")
        skipped.append(
            BriefProblem(
                item.brief.source or f"brief {item.brief.index + 1}",
                f"skipped: not enough credits ({account.credits:,} cover {affordable} "
                "new projects)",
                item.brief.index,
            )
        )
    return account.credits


def prepare_out(out: Path, work: Sequence[BriefWork], *, shared: bool) -> None:
    """Make ``out``, and remove partial downloads a killed run left of the open briefs.

    ``shared`` (fleet mode): another process may be writing one right now, so
    none is removed.
    """
    out.mkdir(parents=True, exist_ok=True)
    if shared:
        return
    for item in work:
        if item.outcome is None:
            for partial in out.glob(f".{item.entry.file_name}.*.part"):
                partial.unlink(missing_ok=True)
