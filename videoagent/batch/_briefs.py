"""Briefs: what a batch is made of, from Python values or a ``.txt``/``.json``/``.jsonl``/``.csv``.

Every input record gets an *index*: its position among the file's records
(blank lines and ``#`` comments are not records, bad records are). Fixing a
bad line, or adding a comment, therefore never shifts the index of another
brief, and the index is part of each brief's idempotency key.

Text is checked before anything is sent: a record whose text UTF-8 cannot
encode (a lone surrogate from a JSON escape such as ``"\\ud800"``, or bytes
of the file that are not UTF-8) is a bad record, reported with its line and
field like any other.
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
    "sendable",
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
    """The briefs cannot be sent as they are; nothing was sent.

    ``problems`` lists each bad record (``file:line: reason``), or the one
    problem of the input as a whole: a file type that is not known, no briefs
    at all, a ``.json`` file that is not a JSON array. ``message`` replaces
    the list in the error's text.
    """

    def __init__(self, problems: Iterable[BriefProblem], message: str | None = None) -> None:
        self.problems = tuple(problems)
        if message is None:
            lines = "\n".join(f"  {problem}" for problem in self.problems)
            count = len(self.problems)
            message = f"{count} bad brief{'s' if count != 1 else ''}:\n{lines}"
        super().__init__(message)

    @classmethod
    def no_briefs(cls, source: str | None) -> BriefFileError:
        """The error of an input without a single record (``source``: its file, if any)."""
        if source is None:
            return cls(
                [BriefProblem("briefs", "no briefs given")], "no briefs given: nothing to send"
            )
        reason = "no briefs (blank lines, # comments and a header are not briefs)"
        return cls([BriefProblem(source, reason)], f"no briefs in {source}: nothing to send")


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


def _shown(text: str) -> str:
    """``text`` safe to print and store: what UTF-8 cannot encode written as ``\\udcXX``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_utf8(field: str, text: object) -> list[str]:
    """Why the text ``field`` holds cannot be sent (a character UTF-8 cannot encode), if so."""
    if not isinstance(text, str):
        return []
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return [
            f"{field} is not valid UTF-8 text (character {exc.start + 1}: "
            f"{_shown(text[exc.start])}, a lone surrogate or a byte that is not UTF-8)"
        ]
    return []


def _unencodable(text: object, name: object, metadata: object) -> list[str]:
    """Why a record's text (brief, name, metadata keys and values) cannot be sent, if so."""
    reasons = _not_utf8("brief", text) + _not_utf8("name", name)
    if isinstance(metadata, Mapping):
        for key, value in metadata.items():
            shown = _shown(str(key))
            reasons += _not_utf8(f"metadata key '{shown}'", key)
            reasons += _not_utf8(f"metadata value of '{shown}'", value)
    return reasons


def _check(fields: Mapping[str, Any], index: int, where: str) -> Brief | BriefProblem:
    """A Brief, or the record's problems joined in one sentence."""
    reasons: list[str] = []
    unknown = sorted(_shown(str(field)) for field in set(fields) - _FIELDS)
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
    reasons += _unencodable(text, name, metadata)
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
    long = sorted(_shown(k) for k, v in value.items() if len(v) > MAX_METADATA_VALUE)
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
        yield where, _as_record(value, "each line")


def _as_record(value: object, each: str) -> Mapping[str, Any] | str:
    """A JSON value as a record: an object's fields, a string as the brief, else a problem."""
    if isinstance(value, str):
        return {"brief": value}
    if isinstance(value, dict):
        return value
    return f"{each} must be a JSON object with 'brief' (or a string, the brief)"


def _csv_records(text: str, label: str) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    start = 1
    while True:
        where = f"{label}:{start}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a record that is not CSV: the reader goes on after it
            start = reader.line_num + 1
            yield where, _csv_problem(exc)
            if header is None:
                return  # a header that cannot be read: nothing after it can be
            continue
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if "brief" not in header:
                yield where, "the header row must name a 'brief' column"
                return
            unknown = sorted(_shown(cell) for cell in set(header) - _FIELDS - {""})
            if unknown:
                yield where, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                return
            continue
        if len(row) > len(header):
            yield where, f"{len(row)} cells but the header names {len(header)} columns"
            continue
        cells = zip(header, row, strict=False)
        yield where, {column: cell for column, cell in cells if column and cell != ""}


def _csv_problem(error: csv.Error) -> str:
    if "unexpected end of data" in str(error):
        return "a quoted field is never closed: its quote runs to the end of the file"
    return f'not valid CSV ({error}; a quote inside a quoted field is written "")'


def _json_records(text: str, label: str) -> Iterator[tuple[str, Mapping[str, Any] | str]]:
    """The elements of a JSON array, each at the line it starts on (one pass over the text)."""
    decoder = json.JSONDecoder()
    line, counted = 1, 0

    def at(position: int) -> str:
        nonlocal line, counted
        line += text.count("\n", counted, position)
        counted = position
        return f"{label}:{line}"

    def skip(position: int) -> int:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        return position

    position = skip(0)
    if position == len(text):
        return  # no briefs
    if text[position] != "[":
        raise _json_error(at(position), "a .json file must hold one array of briefs")
    position = skip(position + 1)
    if text.startswith("]", position):
        position = skip(position + 1)
    else:
        while True:
            where = at(position)
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                raise _json_error(at(exc.pos), f"not valid JSON ({exc.msg})") from None
            yield where, _as_record(value, "each element")
            end, position = position, skip(position)
            if text.startswith(",", position):
                position = skip(position + 1)
            elif text.startswith("]", position):
                position = skip(position + 1)
                break
            else:
                raise _json_error(at(end), "not valid JSON (',' or ']' expected after it)")
    if position != len(text):
        raise _json_error(at(position), "not valid JSON (text after the array)")


def _json_error(where: str, reason: str) -> BriefFileError:
    """A ``.json`` file that cannot be read as a whole: no record of it is to be trusted."""
    problem = BriefProblem(where, reason)
    return BriefFileError([problem], f"{problem}: nothing was read from the file")


_READERS = {
    ".csv": _csv_records,
    ".json": _json_records,
    ".jsonl": _jsonl_records,
    ".txt": _txt_records,
}


def load_briefs(path: str | os.PathLike[str]) -> BriefSet:
    """Read the briefs of a ``.txt``, ``.json``, ``.jsonl`` or ``.csv`` file.

    Bad records do not raise: they come back in ``problems`` with ``file:line``
    (a file that cannot be read raises ``OSError``). The file as a whole
    raises ``BriefFileError``, before it is read, if its suffix is none of
    those four; after, if it holds no brief (``no briefs in FILE``), or if a
    ``.json`` file is not one JSON array.

    ``.txt``: one brief a line. ``.jsonl``: one object a line with ``brief`` and
    optional ``name``, ``mode``, ``metadata`` (object), ``render`` (or just a
    string, the brief). ``.json``: an array of such objects (or strings).
    ``.csv``: a header row naming those columns (``metadata`` as a JSON object).
    Text must be UTF-8 (a byte-order mark is allowed): a record with bytes that
    are not is a bad record.
    """
    file = Path(path)
    label = _shown(str(path))
    reader = _READERS.get(file.suffix.lower())
    if reader is None:
        suffix = _shown(file.suffix) or "(none)"
        reason = f"unknown briefs file type {suffix}: known types are {', '.join(sorted(_READERS))}"
        raise BriefFileError([BriefProblem(label, reason)], f"{label}: {reason}")
    text = file.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    loaded = _collect(reader(text, label), label)
    if not loaded.briefs and not loaded.problems:
        raise BriefFileError.no_briefs(label)
    return loaded


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


def sendable(brief_set: BriefSet) -> BriefSet:
    """``brief_set`` with each brief whose text UTF-8 cannot encode moved to its problems.

    For sets made by hand: ``load_briefs`` and ``briefs_from`` check this already.
    """
    problems = [
        BriefProblem(b.source or f"brief {b.index + 1}", "; ".join(reasons), b.index)
        for b in brief_set.briefs
        if (reasons := _unencodable(b.text, b.name, b.metadata))
    ]
    if not problems:
        return brief_set
    bad = {problem.index for problem in problems}
    return BriefSet(
        tuple(b for b in brief_set.briefs if b.index not in bad),
        tuple(sorted((*brief_set.problems, *problems), key=_problem_order)),
        brief_set.source,
    )


def _problem_order(problem: BriefProblem) -> int:
    return problem.index if problem.index is not None else -1


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
    problems.sort(key=_problem_order)
    return BriefSet(tuple(unique), tuple(problems), label)
