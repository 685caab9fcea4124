"""Paths the command will write to, checked before anything is sent or written.

``--out`` must be a folder (or one that can be made), a file to save must
not be a folder, and neither may sit under a file or in a folder the user
cannot write in. Each problem is one ``UsageError`` sentence naming the option.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._config import UsageError

__all__ = ["check_file", "check_folder"]


def check_folder(path: Path, option: str) -> None:
    """``path`` is a folder the command can write in, or one it can make."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")
    _check_writable(path, path, option)


def check_file(path: Path, option: str) -> None:
    """``path`` can be written as a file (its folder is made if missing)."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder, not a file")
    _check_writable(path.parent, path, option)


def _check_writable(folder: Path, path: Path, option: str) -> None:
    """The nearest existing folder of ``folder`` (itself included) is a writable folder."""
    for ancestor in (folder, *folder.parents):
        try:
            ancestor.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue  # made by the run, or under a file: its parents tell
        except OSError as exc:  # a symlink loop, no permission to look
            raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
        if not ancestor.is_dir():
            raise UsageError(f"{option} {path}: {ancestor} is a file, not a folder")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: {ancestor} is not writable")
        return
