"""``python -m benchmarks``: run every benchmark of this package, one after another.

Each module with a ``main(argv) -> int`` is run with no arguments (its
defaults); the exit status is non-zero if any of them failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    """Run each benchmark module's ``main``; return 1 if any failed."""
    failed = []
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"benchmarks.{module.name}")
        entry = getattr(loaded, "main", None)
        if entry is None:
            continue
        print(f"== {module.name}", flush=True)
        if entry([]) != 0:
            failed.append(module.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
