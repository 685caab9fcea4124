"""``python -m videoagent.simulator``: serve the simulated API until SIGINT/SIGTERM.

The first line of output is ``<base_url> <api_key>`` (flushed at once), e.g.
``http://127.0.0.1:8080/v1 es_live_...``; a wrapper reads it to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from ._server import Simulator

__all__ = ["main", "parse_args"]


def _limit(text: str) -> int | None:
    return None if text.lower() in ("none", "off", "0") else int(text)


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m videoagent.simulator",
        description="Serve a faithful local simulator of the video-agent API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: a free one)")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="real seconds per contract second"
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
        "--failure-rate", type=float, default=0.0, help="probability that a run fails"
    )
    parser.add_argument(
        "--decision-points",
        type=_range,
        default=(1, 2),
        metavar="LOW-HIGH",
        help="decision points of a collaborative project (default 1-2)",
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
    ) as sim:
        sys.stdout.write(f"{sim.base_url} {sim.api_key}\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command."""
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
