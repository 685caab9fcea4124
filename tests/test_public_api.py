"""The public surface: ``videoagent.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import types

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
}


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` is sorted (as ruff sorts it) and has no duplicates."""
    assert len(set(videoagent.__all__)) == len(videoagent.__all__)
    constants = [name for name in videoagent.__all__ if name.isupper()]
    others = [name for name in videoagent.__all__ if not name.isupper()]
    assert videoagent.__all__ == sorted(constants) + sorted(others)


def test_every_name_is_importable() -> None:
    """Each name in ``__all__`` exists on the package."""
    missing = [name for name in videoagent.__all__ if not hasattr(videoagent, name)]
    assert missing == []


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
