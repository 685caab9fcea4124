"""Reading briefs: the three file formats, bad records with file:line, safe file names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoagent.batch import Brief, BriefFileError, briefs_from, load_briefs, safe_file_name


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_txt_skips_blanks_and_comments(tmp_path: Path) -> None:
    """A .txt gives one brief a line; blank lines and # comments are neither briefs nor records."""
    path = write(tmp_path, "b.txt", "# header\n\nfirst teaser\n   \nsecond teaser  \n# end\n")
    loaded = load_briefs(path)
    assert [b.text for b in loaded.briefs] == ["first teaser", "second teaser"]
    assert [b.index for b in loaded.briefs] == [0, 1]
    assert loaded.briefs[1].source == f"{path}:5"
    assert loaded.problems == ()


def test_jsonl_fields_and_bad_lines(tmp_path: Path) -> None:
    """JSONL lines carry name, mode, metadata and render; bad ones are reported with file:line."""
    lines = [
        json.dumps(
            {"brief": "a", "name": "Alpha", "mode": "collaborative", "metadata": {"k": "v"}}
        ),
        "{not json",
        json.dumps({"brief": "b", "mode": "turbo"}),
        json.dumps({"brief": "", "colour": "red"}),
        json.dumps({"brief": "c", "render": "1080p"}),
        json.dumps(["a list"]),
    ]
    path = write(tmp_path, "b.jsonl", "\n".join(lines) + "\n")
    loaded = load_briefs(path)
    assert [(b.text, b.index) for b in loaded.briefs] == [("a", 0), ("c", 4)]
    first = loaded.briefs[0]
    assert (first.name, first.mode, dict(first.metadata or {})) == (
        "Alpha",
        "collaborative",
        {"k": "v"},
    )
    assert loaded.briefs[1].render == "1080p"
    wheres = [p.where for p in loaded.problems]
    assert wheres == [f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:6"]
    assert "not valid JSON" in loaded.problems[0].message
    assert "mode must be autonomous or collaborative" in loaded.problems[1].message
    assert "unknown field colour" in loaded.problems[2].message
    assert "brief is missing or empty" in loaded.problems[2].message


def test_csv_header_metadata_and_line_numbers(tmp_path: Path) -> None:
    """A CSV needs a brief column; metadata is a JSON cell; line numbers count physical lines."""
    text = (
        "brief,name,mode,metadata\n"
        '"a two-line\nbrief",one,,"{""team"": ""growth""}"\n'
        "b,two,sideways,\n"
        'c,three,autonomous,"[1]"\n'
    )
    path = write(tmp_path, "b.csv", text)
    loaded = load_briefs(path)
    assert [b.name for b in loaded.briefs] == ["one"]
    assert loaded.briefs[0].metadata == {"team": "growth"}
    assert [p.where for p in loaded.problems] == [f"{path}:4", f"{path}:5"]
    headless = load_briefs(write(tmp_path, "h.csv", "title,name\nx,y\n"))
    assert "brief" in headless.problems[0].message


def test_duplicate_file_names_are_problems() -> None:
    """Two briefs that would write the same file are refused (the second one)."""
    loaded = briefs_from([{"brief": "a", "name": "Same"}, {"brief": "b", "name": "same"}])
    assert [b.text for b in loaded.briefs] == ["a"]
    assert "already used by brief 1" in loaded.problems[0].message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "etc-passwd.mp4"),
        ("/abs/path", "abs-path.mp4"),
        ("..", "video.mp4"),
        (".hidden", "hidden.mp4"),
        ("Café crème", "Cafe-creme.mp4"),
        ("clip.mp4", "clip.mp4"),
        ("a\\b:c*d", "a-b-c-d.mp4"),
        ("x" * 300, "x" * 80 + ".mp4"),
    ],
)
def test_safe_file_name_stays_in_folder(name: str, expected: str) -> None:
    """File names from names or briefs never leave the output folder nor hide themselves."""
    assert safe_file_name(name) == expected


def test_default_file_name_from_index_and_brief() -> None:
    """Without a name, the file is named by the 1-based index and the brief's first words."""
    assert Brief("A teaser / for ../bikes", index=2).file_name == "0003-A-teaser-for-bikes.mp4"


def test_brief_file_error_lists_every_problem(tmp_path: Path) -> None:
    """BriefFileError's message names each bad record with its file and line."""
    loaded = load_briefs(write(tmp_path, "b.jsonl", '{"brief": "ok"}\n{"brief": 3}\n'))
    error = BriefFileError(loaded.problems)
    assert f"{tmp_path / 'b.jsonl'}:2: brief is missing or empty" in str(error)
    assert "1 bad brief:" in str(error)


def test_not_utf8_is_one_problem(tmp_path: Path) -> None:
    """A file that is not UTF-8 is one problem, not a crash."""
    path = tmp_path / "b.txt"
    path.write_bytes(b"caf\xe9\n")
    loaded = load_briefs(path)
    assert loaded.briefs == ()
    assert "not UTF-8" in loaded.problems[0].message
