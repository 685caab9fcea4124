"""Batch generation: many briefs to verified videos, resumable after a crash.

Example::

    from videoagent.batch import load_briefs, run_batch

    summary = await run_batch(load_briefs("briefs.txt"), out="videos/", retries=2)
    print(f"{len(summary.done)} done, {len(summary.failed)} failed")

``run_batch_sync`` is the same run for code that is not async.

Running the same batch again (same ``out``) resumes it from its journal
(``out/.videoagent-batch.sqlite``): no project is created twice, no video is
lost or half-written, no brief is done twice, and a brief that failed gets
its retries afresh. To run one batch on many machines, run it on Celery
(``videoagent.integrations.celery``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from videoagent._client import AsyncVideoAgent

from ._blocking import run_batch_sync
from ._briefs import (
    Brief,
    BriefFileError,
    BriefProblem,
    BriefSet,
    briefs_from,
    load_briefs,
    safe_file_name,
)
from ._credits import CREATE_COST, MESSAGE_COST, BatchCreditsError
from ._journal import (
    JOURNAL_NAME,
    Journal,
    JournalEntry,
    JournalLockedError,
    JournalMismatchError,
    JournalStatistics,
    NullJournal,
    idempotency_key,
)
from ._pipeline import DEFAULT_REPLY, RETRY_MESSAGE, ReplyPolicy
from ._runner import BatchRunner
from ._session import RequestCounter, counted_client
from ._summary import BatchSummary, BriefOutcome, BriefUpdate

__all__ = [
    "CREATE_COST",
    "DEFAULT_REPLY",
    "JOURNAL_NAME",
    "MESSAGE_COST",
    "RETRY_MESSAGE",
    "BatchCreditsError",
    "BatchRunner",
    "BatchSummary",
    "Brief",
    "BriefFileError",
    "BriefOutcome",
    "BriefProblem",
    "BriefSet",
    "BriefUpdate",
    "Journal",
    "JournalEntry",
    "JournalLockedError",
    "JournalMismatchError",
    "JournalStatistics",
    "NullJournal",
    "ReplyPolicy",
    "RequestCounter",
    "briefs_from",
    "counted_client",
    "idempotency_key",
    "load_briefs",
    "run_batch",
    "run_batch_sync",
    "safe_file_name",
]


async def run_batch(
    briefs: BriefSet | Iterable[str | Brief | Mapping[str, Any]],
    *,
    out: str | os.PathLike[str],
    client: AsyncVideoAgent | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    time_scale: float | None = None,
    on_update: Callable[[BriefUpdate], object] | None = None,
    **options: Any,
) -> BatchSummary:
    """Run a batch to the end and return its summary (see ``BatchRunner`` for ``options``).

    Without ``client``, one is made from ``api_key`` / ``base_url`` /
    ``time_scale`` (default ``VIDEOAGENT_API_KEY`` / ``VIDEOAGENT_BASE_URL`` /
    ``VIDEOAGENT_TIME_SCALE``, as ``AsyncVideoAgent`` reads them), and the
    summary counts its requests.

    Credits: before sending anything the run checks the balance covers 50
    for each new project, 10 for each collaborative brief (at least one
    decision point's reply) and 10 for each brief whose earlier run failed
    (its retry), else raises ``BatchCreditsError`` (``allow_partial``: runs
    what they cover). While it runs, a new project starts only while the
    credits cover it on top of 10 held back for each started collaborative
    brief; the rest end ``pending`` (in ``skipped``) for the next run.
    """
    if client is not None:
        runner = BatchRunner(client, out=out, on_update=on_update, **options)
        return await runner.run(briefs)
    async with counted_client(api_key, base_url, time_scale=time_scale) as (own, counter):
        runner = BatchRunner(own, out=out, on_update=on_update, count_requests=counter, **options)
        return await runner.run(briefs)
