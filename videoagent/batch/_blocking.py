"""``run_batch_sync``: ``run_batch`` for code that is not async (scripts, Celery tasks, notebooks).

The same ``run_batch``, run on a blocking client's engine (``videoagent._engine``):
with a ``VideoAgent`` its limits are shared with every other call of that
client, from any thread; without one, on an engine of its own for the run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from videoagent._blocking import VideoAgent, engine_of
from videoagent._engine import Engine

from ._briefs import Brief, BriefSet
from ._summary import BatchSummary, BriefUpdate

__all__ = ["run_batch_sync"]

#: ``run_batch``'s callbacks, run in the calling thread: progress (not waited
#: for) and a callable ``reply`` (its answer is).
_NOTIFY = ("on_update",)
_ASK = ("reply",)


def _nothing() -> contextlib.AsyncExitStack[bool | None]:
    """What the engine of a run without a client serves: nothing (``run_batch`` makes one)."""
    return contextlib.AsyncExitStack()


def run_batch_sync(
    briefs: BriefSet | Iterable[str | Brief | Mapping[str, Any]],
    *,
    out: str | os.PathLike[str],
    client: VideoAgent | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    time_scale: float = 1.0,
    on_update: Callable[[BriefUpdate], object] | None = None,
    **options: Any,
) -> BatchSummary:
    """``run_batch``, blocking: the same run, with the same arguments and summary.

    Example::

        with VideoAgent() as client:
            summary = run_batch_sync(load_briefs("briefs.txt"), out="videos/", client=client)

    With ``client`` (a ``VideoAgent``) the batch goes through its limits,
    shared with its other calls from any thread; without, a client is made
    for the run from ``api_key`` / ``base_url`` / ``time_scale`` and the
    summary counts its requests. ``on_update`` and a callable ``reply`` run
    in this thread while it waits (they may block). Ctrl-C cancels the run:
    the journal resumes it (see ``run_batch``).
    """
    from videoagent.batch import run_batch  # noqa: PLC0415 - the package's __init__ imports this

    arguments = {
        "out": out,
        "api_key": api_key,
        "base_url": base_url,
        "time_scale": time_scale,
        "on_update": on_update,
        **options,
    }
    if client is not None:
        engine, agent = engine_of(client)
        return engine.call(
            "run_batch_sync",
            run_batch,
            (briefs,),
            {**arguments, "client": agent},
            notify=_NOTIFY,
            ask=_ASK,
        )
    own = Engine(_nothing)
    try:
        return own.call("run_batch_sync", run_batch, (briefs,), arguments, notify=_NOTIFY, ask=_ASK)
    finally:
        own.close()
