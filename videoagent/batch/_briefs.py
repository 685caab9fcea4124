"""Briefs: what a batch is made of, read from Python lists or ``.txt`` / ``.jsonl`` / ``.csv``.

Every input record gets an *index*: its position among the file's records
(blank lines and ``#`` comments are not records, bad records are). Fixing a
bad line, or adding a comment, therefore never shifts the index of another
brief, and the index is part of each brief's idempotency key.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from videoagent._errors import VideoAgentError

__all__ = [
    "Brief",
    "BriefFileError",
    "BriefProblem",
    "BriefSet",
    "briefs_from",
    "load_briefs",
    "safe_file_name",
]

MODES = ("autonomous", "collaborative")
RESOLUTIONS = ("1080p", "4k")
#: The contract's limits on a create body (openapi.yaml).
MAX_BRIEF = 20_000
MAX_METADATA_KEYS = 20
MAX_METADATA_VALUE = 500
_FIELDS = frozenset({"brief", "name", "mode", "metadata", "render"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 80


@attrs.frozen
class Brief:
    """One video to make.

    Attributes:
        text: the brief sent to the agent.
        name: the video's file name without ``.mp4`` (made safe); default
            derived from the index and the brief.
        mode: ``"autonomous"`` or ``"collaborative"``; default the batch's mode.
        metadata: string pairs stored on the project.
        render: a resolution to re-render at once the first result is in
            (``"1080p"``, or ``"4k"`` on the Pro plan); default no re-render.
        index: the record's position in its input (part of its idempotency key).
        source: ``"file:line"`` of the record, when it came from a file.
    """

    text: str
    name: str | None = None
    mode: str | None = None
    metadata: Mapping[str, str] | None = None
    render: str | None = None
    index: int = 0
    source: str | None = attrs.field(default=None, eq=False)

    @property
    def file_name(self) -> str:
        """The video's safe file name (``name.mp4``, or ``NNNN-first-words.mp4``)."""
        if self.name:
            return safe_file_name(self.name)
        return safe_file_name(f"{self.index + 1:04d}-{self.text[:48]}")


@attrs.frozen
class BriefProblem:
    """A record that cannot be sent, and why (``where`` is ``file:line`` or ``brief N``)."""

    where: str
    message: str
    index: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@attrs.frozen
class BriefSet:
    """The briefs of an input, and its bad records (each with file and line)."""

    briefs: tuple[Brief, ...]
    problems: tuple[BriefProblem, ...] = ()
    source: str | None = None


class BriefFileError(VideoAgentError, ValueError):
    """Some input records are bad; nothing was sent. ``problems`` lists each one."""

    def __init__(self, problems: Iterable[BriefProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(f"{count} bad brief{'s' if count != 1 else ''}:\n{lines}")


def safe_file_name(name: str, *, suffix: str = ".mp4") -> str:
    """``name`` as a file name that cannot leave its folder: ASCII letters, digits, ``.-_``.

    No separators, no leading dot (no hidden files, no ``..``), at most 80
    characters before ``suffix``; an empty result becomes ``video``.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = _UNSAFE.sub("-", ascii_name).strip("-.")
    stem = re.sub(r"[-.]{2,}", "-", stem)[:_MAX_STEM].rstrip("-.") or "video"
    if stem.lower().endswith(suffix):
        stem = stem[: -len(suffix)].rstrip("-.") or "video"
    return f"{stem}{suffix}"


# -- checking one record ----------------------------------------------------------


def _check(fields: Mapping[str, Any], index: int, where: str) -> Brief | BriefProblem:
    """A Brief, or the record's problems joined in one sentence."""
    reasons: list[str] = []
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        reasons.append(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    text = fields.get("brief")
    if not isinstance(text, str) or not text.strip():
        reasons.append("brief is missing or empty")
    elif len(text) > MAX_BRIEF:
        reasons.append(f"brief is {len(text):,} characters (at most {MAX_BRIEF:,})")
    name = fields.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        reasons.append("name must be a non-empty string")
    mode = fields.get("mode") or None
    if mode is not None and mode not in MODES:
        reasons.append(f"mode must be autonomous or collaborative, got {mode!r}")
    render = fields.get("render") or None
    if render is not None and render not in RESOLUTIONS:
        reasons.append(f"render must be 1080p or 4k, got {render!r}")
    metadata = _check_metadata(fields.get("metadata"), reasons)
    if reasons:
        return BriefProblem(where, "; ".join(reasons), index)
    assert isinstance(text, str)
    return Brief(
        text=text.strip(),
        name=name.strip() if isinstance(name, str) else None,
        mode=mode,
        metadata=metadata,
        render=render,
        index=index,
        source=where,
    )


def _check_metadata(value: Any, reasons: list[str]) -> Mapping[str, str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            reasons.append("metadata must be a JSON object")
            return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        reasons.append("metadata must be an object of strings")
        return None
    if len(value) > MAX_METADATA_KEYS:
        reasons.append(f"metadata has {len(value)} keys (at most {MAX_METADATA_KEYS})")
    long = sorted(k for k, v in value.items() if len(v) > MAX_METADATA_VALUE)
    if long:
        reasons.append(f"metadata values over {MAX_METADATA_VALUE} characters: {', '.join(long)}")
    return dict(value)


# -- the formats -------------------------------------------------------------------


def _txt_records(text: str, label: str) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield f"{label}:{number}", {"brief": stripped}


def _jsonl_records(text: str, label: str) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{label}:{number}"
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield where, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if isinstance(value, str):
            value = {"brief": value}
        yield where, value if isinstance(value, dict) else "each line must be a JSON object"


def _csv_records(text: str, label: str) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    start = 1
    for row in reader:
        where, start = f"{label}:{start}", reader.line_num + 1
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if "brief" not in header:
                yield where, "the header row must name a 'brief' column"
                return
            unknown = sorted(set(header) - _FIELDS - {""})
            if unknown:
                yield where, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                return
            continue
        if len(row) > len(header):
            yield where, f"{len(row)} cells but the header names {len(header)} columns"
            continue
        cells = zip(header, row, strict=False)
        yield where, {column: cell for column, cell in cells if column and cell != ""}


_READERS = {".txt": _txt_records, ".jsonl": _jsonl_records, ".csv": _csv_records}


def load_briefs(path: str | os.PathLike[str]) -> BriefSet:
    """Read the briefs of a ``.txt``, ``.jsonl`` or ``.csv`` file (any other suffix: as text).

    Bad records do not raise: they come back in ``problems`` with ``file:line``
    (a file that cannot be read raises ``OSError``).

    ``.txt``: one brief a line. ``.jsonl``: one object a line with ``brief`` and
    optional ``name``, ``mode``, ``metadata`` (object), ``render``. ``.csv``: a
    header row naming those columns (``metadata`` as a JSON object).
    """
    file = Path(path)
    raw = file.read_bytes()
    label = str(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = BriefProblem(label, f"not UTF-8 text (byte {exc.start})")
        return BriefSet((), (problem,), label)
    reader = _READERS.get(file.suffix.lower(), _txt_records)
    return _collect(reader(text, label), label)


def briefs_from(items: Iterable[object]) -> BriefSet:
    """Briefs from Python values: strings, ``Brief`` objects or dicts like a JSONL line.

    A ``Brief``'s own ``index`` is replaced by its position in ``items``.
    """

    def records() -> Iterator[tuple[str, Mapping[str, Any] | str]]:
        for number, item in enumerate(items, start=1):
            where = f"brief {number}"
            if isinstance(item, Brief):
                yield (
                    where,
                    {
                        k: v
                        for k, v in {
                            "brief": item.text,
                            "name": item.name,
                            "mode": item.mode,
                            "metadata": None if item.metadata is None else dict(item.metadata),
                            "render": item.render,
                        }.items()
                        if v is not None
                    },
                )
            elif isinstance(item, str):
                yield where, {"brief": item}
            elif isinstance(item, Mapping):
                yield where, item
            else:
                yield where, f"a brief must be a str, Brief or mapping, got {type(item).__name__}"

    return _collect(records(), None)


def _collect(records: Iterable[tuple[str, Mapping[str, Any] | str]], label: str | None) -> BriefSet:
    briefs: list[Brief] = []
    problems: list[BriefProblem] = []
    for index, (where, record) in enumerate(records):
        checked = (
            BriefProblem(where, record, index)
            if isinstance(record, str)
            else _check(record, index, where)
        )
        if isinstance(checked, BriefProblem):
            problems.append(checked)
        else:
            briefs.append(checked)
    seen: dict[str, Brief] = {}
    unique: list[Brief] = []
    for brief in briefs:
        key = brief.file_name.lower()
        if key in seen:
            problems.append(
                BriefProblem(
                    brief.source or f"brief {brief.index + 1}",
                    f"its file name {brief.file_name} is already used by "
                    f"{seen[key].source or f'brief {seen[key].index + 1}'}",
                    brief.index,
                )
            )
            continue
        seen[key] = brief
        unique.append(brief)
    problems.sort(key=lambda p: p.index if p.index is not None else -1)
    return BriefSet(tuple(unique), tuple(problems), label)
