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
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from videoagent import AsyncVideoAgent
from videoagent._config import REDIS_URL_ENV, WEBHOOK_SECRET_ENV
from videoagent.batch import (
    JOURNAL_NAME,
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

from ._config import Settings, UsageError, resolve, time_scale, webhook_secret
from ._paths import check_file, check_folder
from ._progress import Display, make_display
from ._secrets import without_secrets
from ._text import printable, printable_lines

if TYPE_CHECKING:
    from videoagent.fleet import RedisBackend
    from videoagent.integrations.celery import CeleryBatchRunner

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


@attrs.frozen
class _Rerun:
    """The command to run again after a run that did not finish, and what to say of it.

    Against the API, unfinished projects keep running and the same command
    resumes them from the journal. Against the embedded simulator
    (``demo``, ``batch --simulate``) they ended with the process: the same
    command starts over.
    """

    line: str
    simulated: bool
    celery: bool = False

    @property
    def stopping(self) -> str:
        """Said at the first Ctrl-C."""
        if self.celery:
            return (
                "Stopping: no new projects; those made go on to their videos on the Celery "
                "workers (Ctrl-C again to quit at once)."
            )
        running = "" if self.simulated else ", leaving projects running"
        return f"Stopping: finishing downloads in progress{running} (Ctrl-C again to quit at once)."

    @property
    def unfinished(self) -> str:
        """Said under a summary with unfinished briefs (two lines)."""
        if self.simulated:
            return (
                "The embedded simulator ended with this run, and its unfinished projects "
                f"with it. Run again with:\n  {self.line}"
            )
        if self.celery:
            return (
                "Briefs not finished go on on the Celery workers (or wait for them). "
                f"Follow and resume with:\n  {self.line}"
            )
        return f"Projects not finished keep running on the service. Resume with:\n  {self.line}"

    @property
    def quit(self) -> str:
        """Said at the second Ctrl-C (one line)."""
        if self.simulated:
            return f"Quit. The embedded simulator ended too; run again with: {self.line}"
        return f"Quit. Resume with: {self.line}"


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def _install_interrupts(runner: _Stoppable, display: Display, rerun: _Rerun) -> Callable[[], None]:
    """First Ctrl-C: a graceful stop; the second: exit at once. Returns an uninstaller."""
    hits = 0

    def on_interrupt() -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            display.note(rerun.stopping)
            runner.stop()
            return
        sys.stderr.write(f"\n{printable(rerun.quit)}\n")
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


def _print_summary(summary: BatchSummary, *, as_json: bool, rerun: _Rerun) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
        return
    resumed = sum(1 for o in summary.done if o.resumed)
    lines = [
        "",
        f"Batch {summary.batch_id}: {len(summary.done)} done"
        + (f" ({resumed} from an earlier run)" if resumed else "")
        + f", {len(summary.failed)} failed, {len(summary.skipped)} skipped"
        + (f", {len(summary.pending)} not finished" if summary.pending else ""),
    ]
    rows = [("", "brief", "project", "result")]
    rows += [("done", o.name, o.project_id or "", (o.path or "") + _notes(o)) for o in summary.done]
    for o in summary.failed:
        detail = o.error or ""
        if o.request_id:
            detail += f" (request {o.request_id})"
        rows.append(("failed", o.name, o.project_id or "", detail))
    rows += [("pending", o.name, o.project_id or "", "not finished") for o in summary.pending]
    rows += [("skipped", p.where, "", p.message) for p in summary.skipped]
    shown = [[printable(cell) for cell in row] for row in rows]  # widths as shown
    if len(shown) > 1:
        widths = [max(len(r[i]) for r in shown) for i in range(3)]
        for row in shown:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  " + "  ".join([*cells, row[3]]).rstrip())
    credits = "unknown" if summary.credits_used is None else f"{summary.credits_used:,}"
    requests = "not counted" if summary.requests is None else f"{summary.requests:,}"
    lines.append(
        f"credits used: {credits}   wall time: {summary.wall_time:.1f} s   API requests: {requests}"
    )
    if summary.journal:
        lines.append(f"journal: {summary.journal}")
    if summary.interrupted or summary.pending:
        lines.append(rerun.unfinished)
    sys.stdout.write(printable_lines("\n".join(lines)) + "\n")
    sys.stdout.flush()


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
) -> AsyncGenerator[tuple[Settings, str | None], None]:
    """The settings to use, and the webhook secret: a fresh simulator's, or the configured ones."""
    if not simulate:
        yield resolve(args), webhook_secret(args)
        return
    from videoagent.simulator import Simulator  # noqa: PLC0415 - only when simulating - only when simulating

    scale = time_scale(args, default=DEMO_TIME_SCALE)
    async with Simulator(time_scale=scale, seed=getattr(args, "seed", None)) as sim:
        yield (
            Settings(api_key=sim.api_key, base_url=sim.base_url, time_scale=scale),
            sim.webhook_secret,
        )


def _parse_listen(value: str) -> tuple[str, int]:
    """``--webhook-listen HOST:PORT`` (``:PORT`` alone: loopback) as a host and a port."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(
            f"--webhook-listen must be HOST:PORT with a port from 0 to 65535, got {value!r}"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


async def _run(
    args: argparse.Namespace,
    briefs: BriefSet,
    *,
    out: Path,
    settings: Settings,
    journal: bool | str,
    rerun: _Rerun,
    listen: tuple[tuple[str, int], str | None] | None = None,
    on_update: Callable[[BriefUpdate, AsyncVideoAgent], None] | None = None,
    mode: str | None = None,
    celery: _CelerySetup | None = None,
) -> BatchSummary:
    """Run ``briefs`` into ``out`` with progress; ``listen``: the webhook address and secret;
    ``celery``: on Celery workers."""
    display = make_display(quiet=args.quiet or args.json)
    options: dict[str, Any] = {} if celery is None else {"limits_backend": celery.backend}
    async with counted_client(
        settings.api_key,
        settings.base_url,
        time_scale=settings.time_scale,
        allow_insecure=settings.allow_insecure,
        **options,
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
            if listen is not None:
                webhook_url = await _listen(stack, *listen, client)
                display.note(f"webhooks: listening at {webhook_url}")
            runner: BatchRunner | CeleryBatchRunner
            if celery is None:
                runner = BatchRunner(
                    client,
                    out=out,
                    journal=journal,
                    mode=mode,  # type: ignore[arg-type]  # argparse checked the choice
                    retries=args.retries,
                    reply=args.reply,
                    allow_partial=args.allow_partial,
                    skip_invalid=True,  # bad records were reported and accepted already
                    webhook_url=webhook_url,
                    on_update=update,
                    count_requests=counter,
                )
            else:
                runner = celery.runner(client, args, out=out, mode=mode, on_update=update)
                await celery.check_workers(display)
            uninstall = _install_interrupts(runner, display, rerun)
            try:
                display.set_total(len(briefs.briefs))
                with display:
                    return await runner.run(briefs)
            except JournalMismatchError as exc:  # raised before anything is sent
                raise UsageError(str(exc)) from None
            finally:
                uninstall()


async def _listen(
    stack: contextlib.AsyncExitStack,
    address: tuple[str, int],
    secret: str | None,
    client: AsyncVideoAgent,
) -> str:
    """Serve the webhook receiver for the run; its URL (webhooks only trigger polls)."""
    if not secret:
        raise UsageError(
            f"--webhook-listen needs the account's webhook secret: set {WEBHOOK_SECRET_ENV} "
            "(or pass --webhook-secret)"
        )
    from videoagent.webhooks import aiohttp_receiver  # noqa: PLC0415 - only when listening

    host, port = address
    try:
        receiver = await stack.enter_async_context(
            aiohttp_receiver(client.watcher, secret, host=host, port=port)
        )
    except OSError as exc:  # busy, or not an address of this machine: nothing was sent
        raise UsageError(
            f"--webhook-listen cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
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
        sys.stderr.write(f"skipping {printable(str(problem))}\n")


def _load(path: str, *, skip_invalid: bool) -> BriefSet:
    """The briefs of ``path``, bad records reported; a ``UsageError`` if none is left to send."""
    try:
        briefs = load_briefs(path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except BriefFileError as exc:  # the file as a whole (empty, say): one line a problem
        raise UsageError("\n".join(map(str, exc.problems)) or str(exc)) from None
    _report_problems(briefs, skip_invalid=skip_invalid)
    if not briefs.briefs:
        raise UsageError(f"{path} holds no brief to send: nothing was sent")
    return briefs


def _simulated_out(out: Path) -> None:
    """Refuse an ``--out`` holding a batch journal: a simulated run would replace its videos.

    A run on the embedded simulator keeps no journal (its projects end with
    the process: there is nothing to resume), so a folder of earlier simulated
    runs has none and any such run may go there again.
    """
    if (out / JOURNAL_NAME).exists():
        raise UsageError(
            f"--out {out} holds the journal of a batch ({JOURNAL_NAME}): a run on the embedded "
            "simulator would replace its videos; choose another folder"
        )


# -- the Celery engine -------------------------------------------------------------------


@attrs.frozen
class _CelerySetup:
    """What ``--engine celery`` runs on: the fleet's Redis (limits, state), the app."""

    backend: RedisBackend
    redis: Any
    app: Any

    def runner(
        self,
        client: AsyncVideoAgent,
        args: argparse.Namespace,
        *,
        out: Path,
        mode: str | None,
        on_update: Callable[[BriefUpdate], object],
    ) -> CeleryBatchRunner:
        """The batch's submitter (the workers' requests are theirs: not counted here)."""
        from videoagent.integrations.celery import CeleryBatchRunner  # noqa: PLC0415

        return CeleryBatchRunner(
            client,
            out=out,
            redis=self.redis,
            app=self.app,
            mode=mode,
            retries=args.retries,
            reply=args.reply,
            allow_partial=args.allow_partial,
            skip_invalid=True,  # bad records were reported and accepted already
            on_update=on_update,
        )

    async def check_workers(self, display: Display) -> None:
        """Say so if no worker answers (the batch waits for them all the same)."""
        import anyio  # noqa: PLC0415

        answers = await anyio.to_thread.run_sync(lambda: self.app.control.ping(timeout=1.0))
        if not answers:
            display.note(
                "No Celery worker answered yet: the batch waits for them "
                "(start one with: celery -A videoagent.integrations.celery worker)."
            )


def _celery_setup(args: argparse.Namespace) -> _CelerySetup:
    """The Celery engine's setup, every option checked before anything is sent."""
    for given, name in (
        (args.simulate, "--simulate"),
        (args.journal, "--journal"),
        (args.webhook_listen, "--webhook-listen"),
    ):
        if given:
            raise UsageError(
                f"{name} does not go with --engine celery (the workers reach the API and "
                "keep the batch's state in Redis)"
            )
    try:
        from redis import Redis  # noqa: PLC0415
        from redis.exceptions import RedisError  # noqa: PLC0415

        from videoagent.fleet import RedisBackend  # noqa: PLC0415
        from videoagent.integrations import celery  # noqa: PLC0415
        from videoagent.integrations._celery_config import settings  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "--engine celery needs the celery extra: pip install 'videoagent[celery]'"
        ) from None
    url = settings().redis_url
    if url is None:
        raise UsageError(
            f"--engine celery needs {REDIS_URL_ENV}: the Redis the workers share (the "
            "account's limits and the batch's state)"
        )
    redis = Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
    try:
        redis.ping()
    except RedisError as exc:
        raise UsageError(f"--engine celery cannot reach Redis at {_safe_url(url)}: {exc}") from None
    return _CelerySetup(RedisBackend(url=url, polling="queue"), redis, celery.app)


def _safe_url(url: str) -> str:
    from yarl import URL  # noqa: PLC0415

    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else str(parsed)


# -- the commands --------------------------------------------------------------------


def _resume_line(argv: Sequence[str]) -> str:
    """The command to run again, without secrets: they are named by their variables."""
    kept, variables = without_secrets(argv)
    line = shlex.join(["videoagent", *kept])
    if variables:
        line += "  # with " + " and ".join(f"${v}" for v in variables) + " set"
    return line


async def run_batch_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``videoagent batch FILE --out DIR ...``: everything is checked before anything is sent."""
    briefs = _load(args.file, skip_invalid=args.skip_invalid)
    out = Path(args.out)
    check_folder(out, "--out")
    journal: bool | str = True
    celery = _celery_setup(args) if args.engine == "celery" else None
    if args.simulate:
        if args.journal:
            raise UsageError(
                "--journal does not go with --simulate: the embedded simulator's projects end "
                "with the run, so there is nothing to resume"
            )
        _simulated_out(out)
        journal = False
    elif args.journal:
        check_file(Path(args.journal), "--journal")
        journal = args.journal
    address = _parse_listen(args.webhook_listen) if args.webhook_listen else None
    rerun = _Rerun(_resume_line(argv), simulated=args.simulate, celery=celery is not None)
    async with _connection(args, simulate=args.simulate) as (settings, secret):
        summary = await _run(
            args,
            briefs,
            out=out,
            settings=settings,
            journal=journal,
            rerun=rerun,
            listen=None if address is None else (address, secret),
            mode=args.mode,
            celery=celery,
        )
    _print_summary(summary, as_json=args.json, rerun=rerun)
    return summary.exit_code


async def run_demo_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``videoagent demo``: the embedded simulator, a mixed batch, verified files."""
    if args.out:
        out = Path(args.out)
        check_folder(out, "--out")
        _simulated_out(out)
        rerun = _Rerun(_resume_line(argv), simulated=True)
    else:
        out = Path(tempfile.mkdtemp(prefix="videoagent-demo-"))
        rerun = _Rerun(_resume_line([*argv, "--out", str(out)]), simulated=True)
    briefs = briefs_from(DEMO_BRIEFS)
    failed_once: set[str] = set()

    def break_one(update: BriefUpdate, client: AsyncVideoAgent) -> None:
        # The demo's scripted failure: the simulator fails this project's first run.
        if update.name == DEMO_FAILS and update.project_id and not failed_once:
            failed_once.add(update.project_id)
            simulator.fail_project(update.project_id)

    from videoagent.simulator import Simulator  # noqa: PLC0415 - only when simulating

    scale = time_scale(args, default=DEMO_TIME_SCALE)
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
            journal=False,
            rerun=rerun,
            on_update=break_one,
        )
    _print_summary(summary, as_json=args.json, rerun=rerun)
    if summary.done and not args.json:
        names = ", ".join(Path(o.path or "").name for o in summary.done)
        sys.stdout.write(printable_lines(f"\nYour videos are in {out}\n  {names}") + "\n")
        sys.stdout.flush()
    return summary.exit_code
