"""Helpers of more than one test directory: the contract's figures, a sliding-window
count, polling for a state, malformed ids, a user's own error, a call's first step, a
server's TLS context."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio

from videoagent.simulator import Settings

#: The contract's figures (30 requests a window, 5 active projects, 50 credits a
#: create...) as the simulator holds them: tests read them here, never copy them.
CONTRACT = Settings()
REQUEST_LIMIT: int = CONTRACT.request_limit or 0
ACTIVE_LIMIT: int = CONTRACT.active_limit or 0
CREATE_COST = CONTRACT.create_cost
MESSAGE_COST = CONTRACT.message_cost


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (in any order) inside any half-open window of ``window`` seconds."""
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def until(condition: Callable[[], bool], *, limit: float = 20.0) -> None:
    """Return once ``condition()`` holds; fail after ``limit`` real seconds.

    For state that other tasks or processes change by I/O (a simulator, Redis,
    a worker), where there is nothing to wait on.
    """
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - changed by others' I/O: nothing to wait on
            await anyio.sleep(0.01)


#: Project ids every entry point must refuse unsent: a path, a traversal, no body, a lone
#: surrogate, another prefix, a space, nothing.
MALFORMED_IDS = [
    "../account",
    "prj_a/../../x",
    "prj_",
    "prj_\udce9",
    "msg_abcdefgh12",
    " prj_abc",
    "",
]


class Boom(Exception):
    """An error of the user's own (to see it come out as itself)."""


def first_step(call: Coroutine[Any, Any, Any]) -> None:
    """Run ``call`` to its first suspension; it must raise there (and so never waits)."""
    try:
        call.send(None)
    finally:
        call.close()


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1 (made in
    ``folder`` by the ``openssl`` command)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
