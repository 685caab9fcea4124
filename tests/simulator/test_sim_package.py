"""The simulator package: its public names, and its independence from the client side."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import videoagent.simulator

PACKAGE = Path(videoagent.simulator.__file__).parent


def test_all_is_sorted_and_importable() -> None:
    """__all__ is sorted (constants first, as ruff sorts it) and every name in it exists."""
    names = videoagent.simulator.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    for name in names:
        value = getattr(videoagent.simulator, name)
        assert name.isupper() or value.__doc__, f"{name} has no docstring"


def test_the_simulator_imports_nothing_from_the_client_side() -> None:
    """No module of the simulator imports videoagent outside videoagent.simulator."""
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{module.name} reaches above the simulator"
                if node.level == 0 and node.module:
                    assert not node.module.startswith("videoagent"), module.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("videoagent"), module.name


def test_runtime_dependencies_only() -> None:
    """The simulator imports only the standard library, aiohttp and attrs."""
    allowed = {"aiohttp", "attrs"}
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in sys.stdlib_module_names or top == "__future__", (
                    module.name,
                    name,
                )


def test_package_data_is_shipped() -> None:
    """The OpenAPI document and the sample MP4 live inside the package."""
    assert (PACKAGE / "openapi.yaml").read_text().startswith("openapi: 3.0")
    video = (PACKAGE / "sample.mp4").read_bytes()
    assert video[4:8] == b"ftyp"
    assert 20_000 < len(video) < 100_000
