"""``videoagent batch`` and ``videoagent demo``: a batch with live progress and Ctrl-C handling."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from videoagent import AsyncVideoAgent
from videoagent.batch import (
    BatchCreditsError,
    BatchRunner,
    BatchSummary,
    BriefFileError,
    BriefOutcome,
    BriefSet,
    BriefUpdate,
    JournalMismatchError,
    briefs_from,
    counted_client,
    load_briefs,
)

from ._config import WEBHOOK_SECRET_ENV, Settings, UsageError, resolve, time_scale
from ._progress import Display, make_display
from ._secrets import without_secrets

__all__ = ["DEMO_BRIEFS", "run_batch_command", "run_demo_command"]

logger = logging.getLogger("videoagent.cli")

#: The demo's batch: autonomous and collaborative briefs, one re-render, one
#: that fails once and recovers (``fail`` is the demo's own marker).
DEMO_BRIEFS: tuple[dict[str, Any], ...] = (
    {"brief": "A 20 s teaser for a solar-powered e-bike, upbeat", "name": "ebike-teaser"},
    {"brief": "A 15 s product loop of a ceramic coffee mug", "name": "mug-loop"},
    {
        "brief": "A 30 s explainer of how our mobile bank app sends money abroad",
        "name": "bank-explainer",
        "mode": "collaborative",
    },
    {"brief": "A 10 s logo sting for a jazz festival", "name": "jazz-sting", "render": "1080p"},
    {"brief": "A 20 s recipe short: green curry in three steps", "name": "curry-short"},
    {
        "brief": "A 25 s trailer for an indie puzzle game set in a lighthouse",
        "name": "lighthouse-trailer",
        "mode": "collaborative",
    },
    {"brief": "A 15 s real-estate walkthrough of a loft, warm light", "name": "loft-walkthrough"},
    {"brief": "A 20 s recruiting clip for a robotics start-up", "name": "robotics-recruiting"},
)
#: The demo brief whose first run is made to fail (it recovers by a retry message).
DEMO_FAILS = "curry-short.mp4"
DEMO_TIME_SCALE = 0.005


# -- shared ------------------------------------------------------------------------


def _install_interrupts(runner: BatchRunner, display: Display, resume: str) -> Callable[[], None]:
    """First Ctrl-C: a graceful stop; the second: exit at once. Returns an uninstaller."""
    hits = 0

    def on_interrupt() -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            display.note(
                "Stopping: finishing downloads in progress, leaving projects running "
                "(Ctrl-C again to quit at once)."
            )
            runner.stop()
            return
        sys.stderr.write(f"\nQuit. Resume with: {resume}\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)  # the journal is consistent after every commit, like after kill -9

    import asyncio  # noqa: PLC0415 - the CLI runs on asyncio

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
        return lambda: None

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGINT)

    return uninstall


def _print_summary(summary: BatchSummary, *, as_json: bool, resume: str | None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
        return
    out = sys.stdout
    resumed = sum(1 for o in summary.done if o.resumed)
    out.write(
        f"\nBatch {summary.batch_id}: {len(summary.done)} done"
        + (f" ({resumed} from an earlier run)" if resumed else "")
        + f", {len(summary.failed)} failed, {len(summary.skipped)} skipped"
        + (f", {len(summary.pending)} not finished" if summary.pending else "")
        + "\n"
    )
    rows = [("", "brief", "project", "result")]
    rows += [("done", o.name, o.project_id or "", (o.path or "") + _notes(o)) for o in summary.done]
    for o in summary.failed:
        detail = o.error or ""
        if o.request_id:
            detail += f" (request {o.request_id})"
        rows.append(("failed", o.name, o.project_id or "", detail))
    rows += [("pending", o.name, o.project_id or "", "not finished") for o in summary.pending]
    rows += [("skipped", p.where, "", p.message) for p in summary.skipped]
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            out.write("  " + "  ".join([*cells, row[3]]).rstrip() + "\n")
    credits = "unknown" if summary.credits_used is None else f"{summary.credits_used:,}"
    requests = "not counted" if summary.requests is None else f"{summary.requests:,}"
    out.write(
        f"credits used: {credits}   wall time: {summary.wall_time:.1f} s   "
        f"API requests: {requests}\n"
    )
    if summary.journal:
        out.write(f"journal: {summary.journal}\n")
    if summary.interrupted or summary.pending:
        out.write(f"Projects not finished keep running on the service. Resume with:\n  {resume}\n")
    out.flush()


def _notes(outcome: BriefOutcome) -> str:
    notes = []
    if outcome.resumed:
        notes.append("earlier run")
    if outcome.retries:
        notes.append(f"{outcome.retries} retr{'y' if outcome.retries == 1 else 'ies'}")
    if outcome.replies:
        notes.append(f"{outcome.replies} repl{'y' if outcome.replies == 1 else 'ies'}")
    return f"  ({', '.join(notes)})" if notes else ""


@contextlib.asynccontextmanager
async def _connection(
    args: argparse.Namespace, *, simulate: bool
) -> AsyncIterator[tuple[Settings, str | None]]:
    """The settings to use, and the webhook secret: a fresh simulator's, or the configured ones."""
    if not simulate:
        secret = getattr(args, "webhook_secret", None) or os.environ.get(WEBHOOK_SECRET_ENV)
        yield resolve(args), secret
        return
    from videoagent.simulator import Simulator  # noqa: PLC0415 - only when simulating

    scale = time_scale(args) if _time_scale_given(args) else DEMO_TIME_SCALE
    async with Simulator(time_scale=scale, seed=getattr(args, "seed", None)) as sim:
        yield (
            Settings(api_key=sim.api_key, base_url=sim.base_url, time_scale=scale),
            (sim.webhook_secret),
        )


def _time_scale_given(args: argparse.Namespace) -> bool:
    return args.time_scale is not None or bool(os.environ.get("VIDEOAGENT_TIME_SCALE"))


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--webhook-listen must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def _run(
    args: argparse.Namespace,
    briefs: BriefSet,
    *,
    out: Path,
    settings: Settings,
    webhook_secret: str | None,
    resume: str,
    on_update: Callable[[BriefUpdate, AsyncVideoAgent], None] | None = None,
    mode: str | None = None,
) -> BatchSummary:
    display = make_display(quiet=args.quiet or args.json)
    async with counted_client(
        settings.api_key, settings.base_url, time_scale=settings.time_scale
    ) as (client, counter):
        shown_error = False

        def update(event: BriefUpdate) -> None:
            # Showing progress must never stop the batch: the pipeline calls this
            # inside a brief's task, where an exception would end the run.
            nonlocal shown_error
            try:
                display.update(event)
                if on_update is not None:
                    on_update(event, client)
            except Exception as exc:
                if not shown_error:
                    shown_error = True
                    logger.warning("progress display failed (the batch goes on): %r", exc)

        async with contextlib.AsyncExitStack() as stack:
            webhook_url = None
            if getattr(args, "webhook_listen", None):
                webhook_url = await _listen(stack, args.webhook_listen, client, webhook_secret)
                display.note(f"webhooks: listening at {webhook_url}")
            runner = BatchRunner(
                client,
                out=out,
                journal=getattr(args, "journal", None) or True,
                mode=mode,  # type: ignore[arg-type]
                retries=args.retries,
                reply=args.reply,
                allow_partial=args.allow_partial,
                skip_invalid=True,  # bad records were reported and accepted already
                webhook_url=webhook_url,
                on_update=update,
                count_requests=counter,
            )
            uninstall = _install_interrupts(runner, display, resume)
            try:
                display.set_total(len(briefs.briefs))
                with display:
                    return await runner.run(briefs)
            finally:
                uninstall()


async def _listen(
    stack: contextlib.AsyncExitStack, listen: str, client: AsyncVideoAgent, secret: str | None
) -> str:
    """Serve the webhook receiver for the run; its URL (webhooks only trigger polls)."""
    if not secret:
        raise UsageError(
            f"--webhook-listen needs the account's webhook secret: set {WEBHOOK_SECRET_ENV} "
            "(or pass --webhook-secret)"
        )
    from videoagent.webhooks import aiohttp_receiver  # noqa: PLC0415 - only when listening

    host, port = _parse_listen(listen)
    receiver = await stack.enter_async_context(
        aiohttp_receiver(client.watcher, secret, host=host, port=port)
    )
    return receiver.url


def _report_problems(briefs: BriefSet, *, skip_invalid: bool) -> None:
    if not briefs.problems:
        return
    if not skip_invalid:
        raise UsageError(
            f"{BriefFileError(briefs.problems)}\nNothing was sent: fix them, or pass "
            "--skip-invalid to send the others."
        )
    for problem in briefs.problems:
        sys.stderr.write(f"skipping {problem}\n")


async def _guarded(coro: Callable[[], Any]) -> int:
    """Run a batch; map the errors raised before anything is sent to messages."""
    try:
        summary: BatchSummary = await coro()
    except (BatchCreditsError, JournalMismatchError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2 if isinstance(exc, JournalMismatchError) else 1
    return summary.exit_code


# -- the commands --------------------------------------------------------------------


def _resume_line(argv: Sequence[str]) -> str:
    """The command to run again, without secrets: they are named by their variables."""
    kept, variables = without_secrets(argv)
    line = shlex.join(["videoagent", *kept])
    if variables:
        line += "  # with " + " and ".join(f"${v}" for v in variables) + " set"
    return line


async def run_batch_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``videoagent batch FILE --out DIR ...``."""
    try:
        briefs = load_briefs(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    _report_problems(briefs, skip_invalid=args.skip_invalid)
    resume = _resume_line(argv)

    async def go() -> BatchSummary:
        async with _connection(args, simulate=args.simulate) as (settings, secret):
            summary = await _run(
                args,
                briefs,
                out=Path(args.out),
                settings=settings,
                webhook_secret=secret,
                resume=resume,
                mode=args.mode,
            )
        _print_summary(summary, as_json=args.json, resume=resume)
        return summary

    return await _guarded(go)


async def run_demo_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``videoagent demo``: the embedded simulator, a mixed batch, verified files."""
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="videoagent-demo-"))
    briefs = briefs_from(DEMO_BRIEFS)
    failed_once: set[str] = set()

    def break_one(update: BriefUpdate, client: AsyncVideoAgent) -> None:
        # The demo's scripted failure: the simulator fails this project's first run.
        if update.name == DEMO_FAILS and update.project_id and not failed_once:
            failed_once.add(update.project_id)
            simulator.fail_project(update.project_id)

    from videoagent.simulator import Simulator  # noqa: PLC0415

    scale = time_scale(args) if _time_scale_given(args) else DEMO_TIME_SCALE
    if not args.quiet and not args.json:
        sys.stderr.write(
            f"Starting the embedded simulator (time scale {scale:g}) and a batch of "
            f"{len(briefs.briefs)} briefs: autonomous and collaborative, one re-render, "
            "one failure that recovers.\n"
        )
    async with Simulator(time_scale=scale, seed=args.seed) as simulator:
        settings = Settings(
            api_key=simulator.api_key, base_url=simulator.base_url, time_scale=scale
        )
        args.retries, args.reply, args.allow_partial = 2, "Looks good: go ahead.", False
        summary = await _run(
            args,
            briefs,
            out=out,
            settings=settings,
            webhook_secret=simulator.webhook_secret,
            resume=_resume_line([*argv, "--out", str(out)] if not args.out else argv),
            on_update=break_one,
        )
    _print_summary(summary, as_json=args.json, resume=None)
    if not args.json:
        names = ", ".join(Path(o.path or "").name for o in summary.done)
        sys.stdout.write(f"\nYour videos are in {out}\n  {names}\n")
        sys.stdout.flush()
    return summary.exit_code
