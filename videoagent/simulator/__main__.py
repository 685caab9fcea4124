"""``python -m videoagent.simulator``: serve the simulated API until SIGINT/SIGTERM.

The first line of output is ``<base_url> <api_key>`` (flushed at once), e.g.
``http://127.0.0.1:8080/v1 es_live_...``; a wrapper reads it to connect.
A bad option, or a port that cannot be had, is one line on stderr (status 2
or 1), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._log import DEFAULT_LOG_SIZE
from ._server import Simulator

__all__ = ["main", "parse_args"]

PROG = "python -m videoagent.simulator"


class _Parser(argparse.ArgumentParser):
    """An argument error is one line (and status 2), not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole(low: int, high: int | None = None, *, none: bool = False) -> Callable[[str], int | None]:
    """An argparse type: a whole number from ``low`` (to ``high``); ``none``: 'none' is None."""

    def parse(text: str) -> int | None:
        if none and text.lower() in ("none", "off"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _limit(text: str) -> int | None:
    """A limit: a whole number of at least 1, or 'none' (also '0', 'off') for no limit."""
    return None if text == "0" else _whole(1, none=True)(text)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be LOW-HIGH, got {text!r}") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"must be LOW-HIGH with 0 <= LOW <= HIGH, got {text!r}")
    return bounds


def parse_args(argv: Sequence[str] | None = None, *, prog: str = PROG) -> argparse.Namespace:
    """The command's arguments."""
    parser = _Parser(
        prog=prog, description="Serve a faithful local simulator of the video-agent API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_whole(0, 65535), default=8080, help="port (0: a free one)")
    parser.add_argument(
        "--time-scale", type=_scale, default=1.0, help="real seconds per contract second"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible runs")
    parser.add_argument(
        "--api-key", default=None, help="key of the default account (10,000 credits, free plan)"
    )
    parser.add_argument("--webhook-secret", default=None, help="secret webhooks are signed with")
    parser.add_argument(
        "--request-limit",
        type=_limit,
        default=30,
        help="requests per account per 60 s window ('none' turns it off)",
    )
    parser.add_argument(
        "--active-limit",
        type=_limit,
        default=5,
        help="active projects per account ('none' turns it off)",
    )
    parser.add_argument(
        "--failure-rate", type=_fraction, default=0.0, help="probability that a run fails"
    )
    parser.add_argument(
        "--decision-points",
        type=_range,
        default=(1, 2),
        metavar="LOW-HIGH",
        help="decision points of a collaborative project (default 1-2)",
    )
    parser.add_argument(
        "--log-size",
        type=_whole(0, none=True),
        default=DEFAULT_LOG_SIZE,
        help=f"requests, downloads and webhooks each log keeps, the newest "
        f"(default {DEFAULT_LOG_SIZE:,}; 'none': all, growing without bound)",
    )
    parser.add_argument(
        "--no-request-log", action="store_true", help="keep no request log (long benchmarks)"
    )
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator, announce it, and serve until a signal arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with Simulator(
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        seed=args.seed,
        api_key=args.api_key,
        webhook_secret=args.webhook_secret,
        request_limit=args.request_limit,
        active_limit=args.active_limit,
        failure_rate=args.failure_rate,
        decision_points=args.decision_points,
        log_requests=not args.no_request_log,
        log_size=args.log_size,
    ) as sim:
        sys.stdout.write(f"{sim.base_url} {sim.api_key}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the command; its exit status (2: a bad option, 1: it could not serve)."""
    try:
        args = parse_args(argv, prog=prog)
    except SystemExit as exc:  # --help (0), or a bad option (2, said in one line)
        return exc.code if isinstance(exc.code, int) else 0
    try:
        asyncio.run(serve(args))
    except OSError as exc:  # the port is taken, or the host is not an address of ours
        sys.stderr.write(
            f"{prog}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n"
        )
        return 1
    except ValueError as exc:  # a setting the simulator refuses
        sys.stderr.write(f"{prog}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:  # before the signal handlers were in place
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
