"""Every ```python sample of README.md runs against a real simulator on loopback.

Each sample runs in its own interpreter (warnings are errors there too), in an
empty directory, configured the way the README says users configure theirs:
``VIDEOAGENT_API_KEY``, ``VIDEOAGENT_BASE_URL`` and ``VIDEOAGENT_WEBHOOK_SECRET``
point at the plugin's simulator (``videoagent_env``). A sample may ``await``
at top level, as ``python -m asyncio`` and notebooks allow. The ```text block
right after a sample is what it prints: each line must match, ``...`` standing
for any text. A sample preceded by ``<!-- not run by tests/test_readme.py:
why -->`` is reported as skipped, with that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from videoagent.simulator import BackgroundSimulator

README = Path(__file__).resolve().parents[1] / "README.md"
#: Contract seconds pass 1000 times faster: a project takes well under a second.
TIME_SCALE = 0.001
SKIP = re.compile(r"<!-- not run by tests/test_readme\.py: (?P<why>.+?) -->", re.DOTALL)

#: Runs the sample file argv[1] as it is written: the SDK reads its whole
#: configuration from the ``VIDEOAGENT_*`` variables ``videoagent_env`` sets,
#: ``VIDEOAGENT_TIME_SCALE`` included. (A top-level ``await`` runs as
#: ``python -m asyncio`` and notebooks run it.)
RUNNER = """
import ast, asyncio, inspect, sys

path = sys.argv[1]
with open(path, encoding="utf-8") as file:
    code = compile(file.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if code.co_flags & inspect.CO_COROUTINE:
    asyncio.run(result)
"""


class Block(NamedTuple):
    """One fenced block of a Markdown file."""

    language: str
    line: int  # of its opening fence, counting from 1
    end: int  # of its closing fence
    text: str
    before: str  # the text between the previous block and this one


class Sample(NamedTuple):
    """A ```python block, what it prints (the ```text block after it) and why it is not run."""

    line: int
    code: str
    output: str | None
    skip: str | None


def fenced_blocks(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown``, in order (unterminated ones are an error)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    previous_end = 0
    index = 0
    while index < len(lines):
        if not lines[index].startswith("```"):
            index += 1
            continue
        start = index
        language = lines[start][3:].strip().split(" ")[0]
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        if index == len(lines):
            raise ValueError(f"line {start + 1}: a fenced block is never closed")
        before = "\n".join(lines[previous_end:start])
        body = "".join(f"{line}\n" for line in lines[start + 1 : index])
        blocks.append(Block(language, start + 1, index + 1, body, before))
        previous_end = index + 1
        index += 1
    return blocks


def samples(markdown: str) -> list[Sample]:
    """The ```python blocks, each with its output block and skip reason, if any."""
    blocks = fenced_blocks(markdown)
    found = []
    for number, block in enumerate(blocks):
        if block.language != "python":
            continue
        after = blocks[number + 1] if number + 1 < len(blocks) else None
        output = None
        if after is not None and after.language == "text" and not after.before.strip():
            output = after.text
        skip = SKIP.search(block.before.strip().rsplit("\n\n", 1)[-1])
        why = " ".join(skip["why"].split()) if skip else None
        found.append(Sample(block.line, block.text, output, why))
    return found


def matches(expected: str, printed: str) -> bool:
    """``printed`` has the lines of ``expected``, ``...`` in it matching any text."""
    patterns = expected.splitlines()
    lines = printed.splitlines()
    if len(patterns) != len(lines):
        return False
    for pattern, line in zip(patterns, lines, strict=True):
        regex = ".*".join(re.escape(part) for part in pattern.rstrip().split("..."))
        if not re.fullmatch(regex, line.rstrip()):
            return False
    return True


def _params() -> list[object]:
    params: list[object] = []
    for sample in samples(README.read_text(encoding="utf-8")):
        marks = [pytest.mark.skip(reason=sample.skip)] if sample.skip else []
        params.append(pytest.param(sample, id=f"README.md:{sample.line}", marks=marks))
    return params


@pytest.mark.videoagent_simulator(time_scale=TIME_SCALE, seed=7)
@pytest.mark.parametrize("sample", _params())
def test_sample_runs(sample: Sample, videoagent_env: BackgroundSimulator, tmp_path: Path) -> None:
    """The sample runs to the end against the simulator and prints what the README shows."""
    script = tmp_path / "sample.py"
    script.write_text(sample.code, encoding="utf-8")
    env = {**os.environ, "VIDEOAGENT_WEBHOOK_SECRET": videoagent_env.webhook_secret}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", RUNNER, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if sample.output is not None:
        assert matches(sample.output, done.stdout), done.stdout


def test_readme_has_samples_and_few_are_skipped() -> None:
    """The README's samples are found, and only a few are not run, each saying why."""
    found = samples(README.read_text(encoding="utf-8"))
    assert len(found) >= 5
    skipped = [sample for sample in found if sample.skip is not None]
    assert len(skipped) <= 2
    assert all(len(sample.skip or "") > 20 for sample in skipped)
    assert sum(sample.output is not None for sample in found) >= 3


PARSER_INPUT = """\
Intro.

```python
print("a")
```

```text
a
```

<!-- not run by tests/test_readme.py: needs
a server. -->
```python
x = 1
```

Prose between.

```text
not an output: prose stands between
```
```bash
echo hi
```
"""


def test_parser_reads_outputs_and_skips() -> None:
    """The parser pairs a sample with the text block right after it and reads skip reasons."""
    first, second = samples(PARSER_INPUT)
    assert first == Sample(3, 'print("a")\n', "a\n", None)
    assert second == Sample(13, "x = 1\n", None, "needs a server.")
    assert [block.language for block in fenced_blocks(PARSER_INPUT)] == [
        "python",
        "text",
        "python",
        "text",
        "bash",
    ]
    with pytest.raises(ValueError, match="line 1"):
        fenced_blocks("```python\nprint()\n")


def test_output_matching() -> None:
    """``...`` matches any text within a line; lines must match one for one."""
    assert matches("prj_... idle True\n", "prj_abc123 idle True\n")
    assert not matches("prj_... idle True\n", "prj_abc123 failed False\n")
    assert not matches("a\nb\n", "a\n")
    assert matches("saved out/x.mp4\n", "saved out/x.mp4\n")
    assert not matches("saved out/x.mp4\n", "saved out/xymp4\n")
