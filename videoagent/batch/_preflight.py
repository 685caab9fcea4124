"""Before a run sends anything: the briefs done earlier, and a clean ``out``.

(The credits check, also made before anything is sent, lives in ``_credits``.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio

from ._summary import BriefOutcome
from ._work import BriefWork

__all__ = ["prepare_out", "resume_done", "resumed_outcome"]


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
