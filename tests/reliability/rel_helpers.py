"""Helpers of the reliability tests: a known key, fast phases, and a server of odd answers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from videoagent.simulator import Faults

#: A well-formed key the tests register with the simulator and then scan everything for.
KNOWN_KEY = "es_live_" + "Kn0wnSecretKeyForScans0123456789"[:32]
#: Real seconds per contract second where a whole batch runs.
SCALE = 0.005
#: Phases a few contract seconds long: a whole run is about 50-115 contract seconds.
FAST = {"queued": (5, 10), "running": (10, 30), "generating": (30, 60), "rendering": (5, 15)}
#: The issue's mix: 20% 500/503, 5% dropped, 5% slow past the timeout, 5% garbled bodies.
FAULT_MIX = Faults(
    error_500=0.10,
    error_503=0.10,
    drop=0.05,
    slow=0.05,
    truncate=0.025,
    non_json=0.025,
)


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``, hidden ones included."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def holds_secret(data: bytes | str, key: str) -> bool:
    """Whether ``data`` holds the key, or its secret part without the ``es_live_`` prefix."""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return key in text or key.removeprefix("es_live_") in text


def bad_videos(outcomes: Iterable[object], out: Path) -> list[str]:
    """The done outcomes whose file is missing, outside ``out``, or not its size and sha256."""
    bad = []
    for outcome in outcomes:
        path = Path(getattr(outcome, "path", None) or "")
        if not path.is_file() or path.resolve().parent != out.resolve():
            bad.append(f"{path}: missing or outside {out}")
            continue
        data = path.read_bytes()
        expected = (getattr(outcome, "size", None), getattr(outcome, "sha256", None))
        if (len(data), hashlib.sha256(data).hexdigest()) != expected:
            bad.append(f"{path}: not the verified bytes")
    return bad
