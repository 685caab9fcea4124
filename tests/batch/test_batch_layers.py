"""The batch package's modules import only the ones below them: no import circle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import videoagent.batch

PACKAGE = Path(videoagent.batch.__file__).parent


def _siblings_imported(module: Path) -> set[str]:
    """The package modules ``module`` imports (``from ._x import``), type-checking ones included."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }


def test_batch_modules_form_no_import_circle() -> None:
    """Every batch module's imports of its siblings (even under TYPE_CHECKING) look only down."""
    graph = {path.stem: _siblings_imported(path) for path in PACKAGE.glob("*.py")}
    order = list(graphlib.TopologicalSorter(graph).static_order())  # CycleError on a circle
    assert set(order) >= set(graph)
    assert order.index("_preflight") < order.index("_runner")
    assert order.index("_credits") < order.index("_pipeline")
