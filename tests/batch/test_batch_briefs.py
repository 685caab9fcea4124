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


def test_not_utf8_is_a_bad_record_not_a_crash(tmp_path: Path) -> None:
    """A line that is not UTF-8 is a bad record with its line, not a crash."""
    path = tmp_path / "b.txt"
    path.write_bytes(b"caf\xe9\n")
    loaded = load_briefs(path)
    assert loaded.briefs == ()
    assert str(loaded.problems[0]).startswith(f"{path}:1: brief is not valid UTF-8 text")


def test_json_file_is_an_array_of_briefs(tmp_path: Path) -> None:
    """A .json file is one array of strings or objects (JSONL's fields), each at its line."""
    text = """[
  "a teaser for bikes",
  {"brief": "an explainer", "name": "Explainer",
   "mode": "collaborative", "metadata": {"team": "growth"}, "render": "1080p"},
  {"brief": "loud", "mode": "loud"},

  42,
  {
    "brief": "the last one"
  }
]
"""
    path = write(tmp_path, "briefs.json", text)
    loaded = load_briefs(path)
    assert [(b.text, b.index, b.source) for b in loaded.briefs] == [
        ("a teaser for bikes", 0, f"{path}:2"),
        ("an explainer", 1, f"{path}:3"),
        ("the last one", 4, f"{path}:8"),
    ]
    second = loaded.briefs[1]
    assert (second.name, second.mode, second.metadata, second.render) == (
        "Explainer",
        "collaborative",
        {"team": "growth"},
        "1080p",
    )
    assert [str(p) for p in loaded.problems] == [
        f"{path}:5: mode must be autonomous or collaborative, got 'loud'",
        f"{path}:7: each element must be a JSON object with 'brief' (or a string, the brief)",
    ]


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ('{"brief": "one object"}\n', 1, "must hold one array of briefs"),
        ('[\n  "a",\n  "b"\n  "c"\n]\n', 3, "',' or ']' expected"),
        ('[\n  "a",\n  {"brief": }\n]\n', 3, "not valid JSON (Expecting value)"),
        ('[\n  "a"\n]\n[]\n', 4, "text after the array"),
        ('[\n  "a",\n', 3, "not valid JSON"),
    ],
)
def test_json_file_that_is_not_one_array_is_refused_whole(
    tmp_path: Path, text: str, where: int, reason: str
) -> None:
    """A .json file that is not one well-formed array raises, naming the line; nothing is read."""
    path = write(tmp_path, "briefs.json", text)
    with pytest.raises(BriefFileError) as info:
        load_briefs(path)
    assert str(info.value).startswith(f"{path}:{where}: ")
    assert reason in str(info.value)


@pytest.mark.parametrize("name", ["briefs.md", "briefs.yaml", "briefs", "briefs.txt.bak"])
def test_unknown_file_type_is_refused_unread(tmp_path: Path, name: str) -> None:
    """A file of no known type is refused with the known ones, before it is read (or exists)."""
    path = tmp_path / name  # never created: it must not be opened
    with pytest.raises(BriefFileError) as info:
        load_briefs(path)
    assert str(info.value).endswith("known types are .csv, .json, .jsonl, .txt")


def test_unencodable_jsonl_text_is_a_bad_record_naming_its_field(tmp_path: Path) -> None:
    """Lone surrogates (JSON escapes) and non-UTF-8 bytes are bad records, by line and field."""
    lines = [
        b'{"brief": "fine"}',
        b'{"brief": "half a pair \\ud800 here"}',
        b'{"brief": "ok", "name": "caf\xe9"}',
        b'{"brief": "ok too", "metadata": {"team": "\\udfff"}}',
        b'{"brief": "ok three", "metadata": {"t\\ud83d": "x"}}',
    ]
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    loaded = load_briefs(path)
    assert [b.text for b in loaded.briefs] == ["fine"]
    assert [(p.where, p.message.split(" is not valid UTF-8")[0]) for p in loaded.problems] == [
        (f"{path}:2", "brief"),
        (f"{path}:3", "name"),
        (f"{path}:4", "metadata value of 'team'"),
        (f"{path}:5", "metadata key 't\\ud83d'"),
    ]
    assert "character 13: \\ud800" in loaded.problems[0].message
    for problem in loaded.problems:
        str(problem).encode("utf-8")  # every report can be printed and stored


def test_unencodable_csv_and_txt_text_are_bad_records(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in a CSV field or a text line are bad records at their line."""
    csv_path = tmp_path / "b.csv"
    csv_path.write_bytes(b'brief,name\nfine,one\n"bad \xff brief",two\nok,thr\xc3\n')
    loaded = load_briefs(csv_path)
    assert [b.name for b in loaded.briefs] == ["one"]
    assert [(p.where, p.message[:30]) for p in loaded.problems] == [
        (f"{csv_path}:3", "brief is not valid UTF-8 text "),
        (f"{csv_path}:4", "name is not valid UTF-8 text ("),
    ]
    txt_path = tmp_path / "b.txt"
    txt_path.write_bytes("caf\u00e9 ok\n\xff\xfe\n".encode("latin-1"))
    loaded = load_briefs(txt_path)
    assert [p.where for p in loaded.problems] == [f"{txt_path}:1", f"{txt_path}:2"]


def test_unterminated_csv_quote_is_a_bad_record_at_its_line(tmp_path: Path) -> None:
    """A quote that is never closed is a bad record at the line it opens, not a swallowed file."""
    text = 'brief,name\nfirst,one\n"never closed,two\nthird,three\nfourth,four\n'
    path = write(tmp_path, "b.csv", text)
    loaded = load_briefs(path)
    assert [b.name for b in loaded.briefs] == ["one"]
    (problem,) = loaded.problems
    assert problem.where == f"{path}:3"
    assert "quoted field is never closed" in problem.message


def test_stray_csv_quote_is_a_bad_record(tmp_path: Path) -> None:
    """A quote inside a quoted field that is not doubled is a bad record; the rest are read."""
    path = write(tmp_path, "b.csv", 'brief,name\n"a "quoted" word",one\nsecond,two\n')
    loaded = load_briefs(path)
    assert [b.name for b in loaded.briefs] == ["two"]
    assert [p.where for p in loaded.problems] == [f"{path}:2"]
    assert "not valid CSV" in loaded.problems[0].message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty.txt", ""),
        ("comments.txt", "# just a plan\n\n   \n# for later\n"),
        ("blank.jsonl", "\n\n# nothing yet\n"),
        ("header.csv", "brief,name\n"),
        ("none.json", "  [ ]\n"),
        ("nothing.json", "\n"),
    ],
)
def test_file_without_briefs_is_an_error(tmp_path: Path, name: str, text: str) -> None:
    """An empty or comments-only file raises 'no briefs in FILE' (nothing to send is a mistake)."""
    path = write(tmp_path, name, text)
    with pytest.raises(BriefFileError) as info:
        load_briefs(path)
    assert str(info.value).startswith(f"no briefs in {path}: ")
    assert [p.where for p in info.value.problems] == [str(path)]


def test_python_values_with_unencodable_text_are_refused() -> None:
    """Text UTF-8 cannot encode in a brief, name or metadata is a bad record naming the field."""
    loaded = briefs_from(
        [
            "fine",
            Brief("lone \udc80 surrogate"),
            {"brief": "ok", "name": "\ud800"},
            {"brief": "ok", "metadata": {"k": "v\udfff"}},
        ]
    )
    assert [b.text for b in loaded.briefs] == ["fine"]
    assert [(p.where, p.message.split(" is not")[0]) for p in loaded.problems] == [
        ("brief 2", "brief"),
        ("brief 3", "name"),
        ("brief 4", "metadata value of 'k'"),
    ]


def test_unknown_fields_of_any_kind_are_reported_not_raised() -> None:
    """Unknown fields that are not strings (or not UTF-8) are named in the problem, no crash."""
    loaded = briefs_from([{"brief": "a", 3: "x", "col\udc80": "y"}])
    (problem,) = loaded.problems
    assert problem.message == "unknown fields 3, col\\udc80"
