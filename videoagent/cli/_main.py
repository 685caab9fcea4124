"""The argument parser and ``main``: dispatch, exit statuses, errors as sentences."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn, TextIO

from videoagent import (
    ConfigurationError,
    InsecureBaseURLWarning,
    InvalidRequestError,
    ProjectStatus,
    VideoAgentError,
    __version__,
)
from videoagent._arguments import check_id, check_text

from ._config import UsageError
from ._secrets import redact
from ._text import printable, printable_lines

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EXIT_STATUS = (
    "exit status: 0 done, 1 something failed (a request, or a project that ended failed "
    "or cancelled), 2 usage or configuration error, 130 interrupted"
)


class ParseError(Exception):
    """A usage error found while parsing; ``main`` prints it without any secret, status 2."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """Raises ``ParseError`` instead of printing: argparse echoes values, a key among them."""

    def error(self, message: str) -> NoReturn:
        raise ParseError(self, message)


#: The statuses ``list --status`` can filter on (the contract's seven).
_STATUSES = tuple(s.value for s in ProjectStatus if s is not ProjectStatus.UNKNOWN)


def _id(prefix: str, what: str) -> Callable[[str], str]:
    """An argparse type: an id such as ``prj_...``, checked as the client checks it."""

    def parse(text: str) -> str:
        try:
            check_id(text, prefix, what)
        except InvalidRequestError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    return parse


def _text(what: str, *, limit: int = 20_000) -> Callable[[str], str]:
    """An argparse type: a brief, message or name the API takes (not blank, not too long)."""

    def parse(text: str) -> str:
        try:
            return check_text(text, what, limit=limit)
        except InvalidRequestError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_project_id = _id("prj", "a project id")


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def _common(*, defaults: bool) -> _Parser:
    """Options every command takes, after its name or before it.

    The top-level parser holds their defaults; a command's parser has none
    (``SUPPRESS``), so a value given before the command is not overwritten.
    """
    common = _Parser(add_help=False, argument_default=None if defaults else argparse.SUPPRESS)
    group = common.add_argument_group("connection and output")
    group.add_argument("--api-key", help="the API key (default: $VIDEOAGENT_API_KEY)")
    group.add_argument("--base-url", help="the API's base URL (default: $VIDEOAGENT_BASE_URL)")
    group.add_argument(
        "--time-scale",
        help="real seconds per contract second, to drive a fast simulator "
        "(default: $VIDEOAGENT_TIME_SCALE or 1)",
    )
    group.add_argument("--json", action="store_true", help="machine-readable output")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    group.add_argument(
        "-v", "--verbose", action="store_true", help="log every request (never the key)"
    )
    group.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow a plain-http base URL to a host other than loopback (the key travels in clear)",
    )
    return common


def _batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retries", type=_count(0), default=2, help="retries of a failed project (default 2)"
    )
    parser.add_argument(
        "--reply",
        type=_text("--reply"),
        default="Looks good: go ahead.",
        help="the answer to every decision point of collaborative briefs",
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="when credits cannot cover every brief, run those they cover",
    )
    parser.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    """The ``videoagent`` parser with its subcommands."""
    common = _common(defaults=False)
    parser = _Parser(
        prog="videoagent",
        description="Make videos with the video-agent API: a demo, batches, every call.",
        epilog=_EXIT_STATUS,
        parents=[_common(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"videoagent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=help_text, epilog=_EXIT_STATUS, parents=[common]
        )

    demo = add("demo", "run a mixed batch against the embedded simulator, with live progress")
    demo.add_argument("--out", help="folder for the videos (default: a new temporary folder)")
    demo.add_argument("--seed", type=int, default=7, help="the simulator's seed")

    batch = add("batch", "turn a file of briefs into verified videos (resumable)")
    batch.add_argument("file", help="briefs: .txt (one a line), .jsonl or .csv")
    batch.add_argument("--out", required=True, help="folder for the videos and the journal")
    batch.add_argument("--mode", choices=("autonomous", "collaborative"), help="default mode")
    batch.add_argument("--simulate", action="store_true", help="run against an embedded simulator")
    batch.add_argument(
        "--webhook-listen",
        metavar="HOST:PORT",
        help="receive the API's webhooks here (they trigger polls; needs the webhook secret)",
    )
    batch.add_argument(
        "--webhook-secret",
        help="the account's webhook secret (default: $VIDEOAGENT_WEBHOOK_SECRET)",
    )
    batch.add_argument("--skip-invalid", action="store_true", help="send the valid briefs only")
    batch.add_argument(
        "--journal", help="the journal's path (default: OUT/.videoagent-batch.sqlite)"
    )
    batch.add_argument(
        "--engine",
        choices=("local", "celery"),
        default="local",
        help="local: this process runs the batch (default); celery: Celery workers run it "
        "(celery -A videoagent.integrations.celery worker), sharing the limits and the "
        "batch's state through $VIDEOAGENT_REDIS_URL; OUT must be a folder they all reach",
    )
    _batch_options(batch)

    _add_resource_commands(add, common)
    sub.add_parser(
        "simulate",
        help="serve the simulated API locally (python -m videoagent.simulator)",
        add_help=False,
    )
    return parser


def _add_resource_commands(
    add: Callable[[str, str], argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    create = add("create", "create a project")
    create.add_argument("brief", type=_text("the brief"))
    create.add_argument("--mode", choices=("autonomous", "collaborative"))
    create.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    create.add_argument("--idempotency-key")
    create.add_argument(
        "--wait",
        action="store_true",
        help="wait until it is idle, failed or cancelled (status 1 if failed or cancelled)",
    )

    add("get", "show a project").add_argument("id", type=_project_id)
    listing = add("list", "list projects, newest first")
    listing.add_argument("--status", choices=_STATUSES, help="only projects in this status")
    listing.add_argument(
        "--limit", type=_count(1), default=20, help="at most this many (default 20)"
    )
    add("watch", "follow projects until each is idle, failed or cancelled").add_argument(
        "id", nargs="+", type=_project_id
    )
    msgs = add("messages", "print a project's messages")
    msgs.add_argument("id", type=_project_id)
    msgs.add_argument("--follow", "-f", action="store_true", help="keep printing new ones")
    send = add("send", "send a message (feedback, or a retry of a failed project)")
    send.add_argument("id", type=_project_id)
    send.add_argument("text", type=_text("the message"))
    add("cancel", "cancel a project").add_argument("id", type=_project_id)
    render = add("render", "render an idle project again")
    render.add_argument("id", type=_project_id)
    render.add_argument("--resolution", choices=("1080p", "4k"))
    render.add_argument(
        "--wait",
        action="store_true",
        help="wait until the render ends (status 1 if it failed or was cancelled)",
    )
    download = add("download", "download a project's video, verified")
    download.add_argument("id", type=_project_id)
    download.add_argument("path", nargs="?", help="where to save it (default: ID.mp4)")
    download.add_argument("--wait", action="store_true", help="wait for the project first")
    add("account", "show credits, plan and today's usage")
    keys = add("keys", "list, create or revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    keys_sub.add_parser("list", help="list the account's keys", parents=[common])
    keys_sub.add_parser("create", help="create a key", parents=[common]).add_argument(
        "name", type=_text("the key's name", limit=100)
    )
    keys_sub.add_parser("revoke", help="revoke a key", parents=[common]).add_argument(
        "key_id", type=_id("key", "a key id")
    )


class _PrintableFormatter(logging.Formatter):
    """Log lines with server text (an error message in a warning) made printable."""

    def format(self, record: logging.LogRecord) -> str:
        return printable_lines(super().format(record))


def _configure_logging(verbose: bool) -> None:
    """Log warnings on stderr, printable; ``--verbose``: every request too, with times."""
    handler = logging.StreamHandler(sys.stderr)
    layout = "%(asctime)s %(name)s %(message)s" if verbose else "%(message)s"
    handler.setFormatter(_PrintableFormatter(layout))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    if verbose:
        logging.getLogger("videoagent").setLevel(logging.DEBUG)


async def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.command == "demo":
        from ._batch import run_demo_command  # noqa: PLC0415 - loads the simulator

        return await run_demo_command(args, argv)
    if args.command == "batch":
        from ._batch import run_batch_command  # noqa: PLC0415 - loaded when it runs

        return await run_batch_command(args, argv)
    from ._commands import run_command  # noqa: PLC0415 - loaded when it runs

    return await run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; its exit status (0 done, 1 failed, 2 usage, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        from videoagent.simulator.__main__ import main as simulate  # noqa: PLC0415 - as above

        return simulate(argv[1:], prog="videoagent simulate")
    try:
        args = build_parser().parse_args(argv)
    except ParseError as exc:  # argparse would echo the offending value: hide any secret
        prog = exc.parser.prog
        return _say(f"{prog}: error: {exc.message} (see {prog} --help)", argv, EXIT_USAGE)
    if args.command == "simulate":  # only here when options came before it
        return _say(
            "videoagent: simulate takes its own options, after its name "
            "(videoagent simulate --help)",
            argv,
            EXIT_USAGE,
        )
    _configure_logging(args.verbose)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(argv)
            return asyncio.run(_dispatch(args, argv))
    except BaseException as exc:  # every error ends as one line and a status
        return _failed(_innermost(exc), argv)


def _innermost(error: BaseException) -> BaseException:
    """The first error inside exception groups (a task group's), or ``error`` itself.

    Groups are known by their ``exceptions`` (the builtin class, or the backport's on 3.10).
    """
    while True:
        inner = getattr(error, "exceptions", None)
        if not (isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException)):
            return error
        error = inner[0]


def _failed(error: BaseException, argv: Sequence[str]) -> int:
    """Print ``error`` as one line; the exit status it means."""
    if isinstance(error, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(error, UsageError):  # ours: its line breaks are meant (a list of bad briefs)
        return _say(f"videoagent: {error}", argv, EXIT_USAGE, lines=True)
    if isinstance(error, (ConfigurationError, InvalidRequestError)):  # refused before sending
        return _say(f"videoagent: {error}", argv, EXIT_USAGE)
    if isinstance(error, VideoAgentError):  # APIError included: one line with its request id
        return _say(f"videoagent: {error}", argv, EXIT_FAILED)
    if isinstance(error, BrokenPipeError):  # stdout closed early (`| head`): stop quietly
        _silence(sys.stdout)
        return EXIT_FAILED
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return _say(f"videoagent: {where}{error.strerror or error}", argv, EXIT_FAILED)
    if not isinstance(error, Exception):  # SystemExit, GeneratorExit: not ours to end
        raise error
    logging.getLogger("videoagent.cli").debug("unexpected error", exc_info=error)
    return _say(
        f"videoagent: unexpected error {type(error).__name__}: {error} "
        "(please report it; --verbose shows where)",
        argv,
        EXIT_FAILED,
    )


def _say(text: str, argv: Sequence[str], status: int, *, lines: bool = False) -> int:
    """Write ``text`` on stderr, secrets hidden and made printable (one line unless ``lines``)."""
    text = redact(text, argv)
    sys.stderr.write((printable_lines(text) if lines else printable(text)) + "\n")
    sys.stderr.flush()
    return status


def _warning_printer(argv: Sequence[str]) -> Callable[..., None]:
    """A ``warnings.showwarning`` printing each warning as one line of ours."""

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        if issubclass(category, InsecureBaseURLWarning):
            text = (
                "the base URL is plain http to a host other than loopback: the API key "
                "travels in clear. Use https, or pass --allow-insecure if that is intended."
            )
        else:
            text = str(message)
        _say(f"videoagent: warning: {text}", argv, 0)

    return show


def _silence(stream: TextIO) -> None:
    """Point ``stream`` at /dev/null, so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):  # not a real file (captured output in tests)
        pass
