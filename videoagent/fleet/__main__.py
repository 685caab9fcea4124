"""``python -m videoagent.fleet``: one worker of a batch that several processes share.

Start the same command (same briefs, same ``--batch-id``) on as many
processes or machines as you like; they share the account's limits and the
batch's briefs through Redis. Each prints its summary as one JSON line.

    python -m videoagent.fleet briefs.txt --out videos/ --batch-id launch-42 \\
        --redis-url redis://redis:6379/0

The API key and base URL come from ``VIDEOAGENT_API_KEY`` /
``VIDEOAGENT_BASE_URL``; ``--redis-url`` defaults to ``VIDEOAGENT_REDIS_URL``.
Each worker keeps its own journal (``--journal``, default
``<out>/.videoagent-batch-<host>-<pid>.sqlite``).

Workers that run at the same time make one run of the batch: each brief is
listed in one worker's summary (done, failed or pending). Starting them
again once all have ended is a re-run: briefs done before are listed done
(``resumed``), and a brief that failed is retried afresh by one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from videoagent._config import REDIS_URL_ENV, resolve_redis_url
from videoagent._wiring import wiring_of
from videoagent.batch import BatchRunner, counted_client, load_briefs

from ._backend import RedisBackend
from ._runtime import FleetRuntime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m videoagent.fleet", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("file", help="briefs: .txt (one a line), .jsonl or .csv")
    parser.add_argument("--out", required=True, help="folder for the videos")
    parser.add_argument("--batch-id", required=True, help="the same in every worker of the batch")
    parser.add_argument("--redis-url", help=f"default: ${REDIS_URL_ENV}")
    parser.add_argument("--account", help="the account's name in Redis (default: a key hash)")
    parser.add_argument("--lease", type=float, default=10.0, help="real seconds (default 10)")
    parser.add_argument("--journal", help="this worker's journal file")
    parser.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=None, help=argparse.SUPPRESS)
    return parser


async def _main(args: argparse.Namespace) -> int:
    backend = RedisBackend(url=args.redis_url, account=args.account, lease=args.lease)
    out = Path(args.out)
    journal = args.journal or out / f".videoagent-batch-{socket.gethostname()}-{os.getpid()}.sqlite"
    options: dict[str, object] = {"time_scale": args.time_scale, "limits_backend": backend}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    async with counted_client(**options) as (client, counter):  # type: ignore[arg-type]
        runner = BatchRunner(
            client, out=out, journal=journal, batch_id=args.batch_id, count_requests=counter
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, runner.stop)
        summary = await runner.run(load_briefs(args.file))
        fleet = wiring_of(client).shared
        assert isinstance(fleet, FleetRuntime)
        statistics = fleet.statistics()
    line = summary.to_dict()
    line["fleet"] = attrs.asdict(statistics)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    return summary.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker; its exit status is the batch summary's."""
    args = _parser().parse_args(argv)
    args.redis_url = resolve_redis_url(args.redis_url)
    if not args.redis_url:
        _parser().error(f"--redis-url or {REDIS_URL_ENV} is required")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
