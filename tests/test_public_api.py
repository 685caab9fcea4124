"""The public surface: ``videoagent.__all__`` is sorted, complete, importable and lazy."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import videoagent

#: Names DESIGN.md fixes; users, docs and outside tests rely on them.
DESIGN_NAMES = {
    "AsyncVideoAgent",
    "Limits",
    "PollPolicy",
    "Project",
    "ProjectStatus",
    "Message",
    "Result",
    "Account",
    "ApiKey",
    "VideoAgentError",
    "ProjectWatcher",
    "VideoAgent",
}


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` is sorted (as ruff sorts it) and has no duplicates."""
    assert len(set(videoagent.__all__)) == len(videoagent.__all__)
    constants = [name for name in videoagent.__all__ if name.isupper()]
    others = [name for name in videoagent.__all__ if not name.isupper()]
    assert videoagent.__all__ == sorted(constants) + sorted(others)


def test_every_name_is_importable() -> None:
    """Each name in ``__all__`` resolves on the package to its private module's object."""
    missing = [name for name in videoagent.__all__ if not hasattr(videoagent, name)]
    assert missing == []
    for module, names in videoagent._MODULES.items():
        source = importlib.import_module(module, "videoagent")
        for name in names:
            assert getattr(videoagent, name) is getattr(source, name), name


def test_lazy_table_is_all() -> None:
    """The table of lazily imported names lists each name of ``__all__`` once, no other."""
    listed = [name for names in videoagent._MODULES.values() for name in names]
    assert sorted(listed) == sorted(videoagent.__all__)


def test_star_import_and_dir() -> None:
    """``from videoagent import *`` binds every public name, and ``dir()`` lists them."""
    namespace: dict[str, object] = {}
    exec("from videoagent import *", namespace)
    assert set(videoagent.__all__) <= set(namespace)
    assert namespace["AsyncVideoAgent"] is videoagent.AsyncVideoAgent
    assert set(videoagent.__all__) | {"__version__"} <= set(dir(videoagent))


def test_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not have raises ``AttributeError`` naming it."""
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = videoagent.NoSuchThing  # type: ignore[attr-defined]
    assert not hasattr(videoagent, "_client_typo")


@pytest.mark.parametrize("module", ["videoagent", "videoagent.testing"])
def test_import_is_light(module: str) -> None:
    """Importing the package or its pytest plugin loads neither aiohttp nor the client."""
    probe = (
        f"import sys, {module}; "
        "print(' '.join(m for m in ('aiohttp', 'cattrs', 'anyio', 'videoagent._client') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert loaded == []


def test_first_use_loads_the_client() -> None:
    """Touching ``AsyncVideoAgent`` in a fresh interpreter imports the client then."""
    probe = (
        "import sys, videoagent; before = 'videoagent._client' in sys.modules; "
        "videoagent.AsyncVideoAgent; print(before, 'videoagent._client' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["False", "True"]


def test_design_names_are_public() -> None:
    """Every name DESIGN.md promises is exported."""
    assert set(videoagent.__all__) >= DESIGN_NAMES


def test_nothing_private_leaks() -> None:
    """Every public object lives in a private module (or the package) and is documented."""
    for name in videoagent.__all__:
        obj = getattr(videoagent, name)
        if isinstance(obj, types.UnionType):  # a type alias such as WatchEvent
            continue
        module = getattr(obj, "__module__", "videoagent")
        assert module == "videoagent" or module.startswith("videoagent._"), name
        if isinstance(obj, type):
            assert obj.__doc__, name


def test_version() -> None:
    """The package has a version string."""
    assert isinstance(videoagent.__version__, str)
