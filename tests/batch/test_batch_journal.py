"""The journal: briefs recorded up front, facts as they come, the same batch on reopening."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from videoagent import AsyncVideoAgent
from videoagent.batch import (
    JOURNAL_NAME,
    BatchRunner,
    Brief,
    Journal,
    JournalLockedError,
    JournalMismatchError,
    NullJournal,
    RequestCounter,
    idempotency_key,
)
from videoagent.simulator import Simulator

#: A second process holding a journal the way a run does: open, until its stdin closes.
RUN_HOLDING = """
import sys, anyio
from videoagent.batch import Journal

async def main():
    journal = await Journal.open(sys.argv[1])
    print("holding", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    await journal.aclose()

anyio.run(main)
"""
#: A second process in a write transaction on the journal itself (any SQLite writer).
WRITER_HOLDING = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("holding", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def briefs(*texts: str) -> list[Brief]:
    return [Brief(text, index=i) for i, text in enumerate(texts)]


def test_idempotency_key_is_deterministic() -> None:
    """The key depends on batch id, index and text only, and fits the API's 255 characters."""
    key = idempotency_key("b1", 0, "teaser")
    assert key == idempotency_key("b1", 0, "teaser")
    assert (
        len(
            {
                key,
                idempotency_key("b2", 0, "teaser"),
                idempotency_key("b1", 1, "teaser"),
                idempotency_key("b1", 0, "teaser!"),
            }
        )
        == 4
    )
    assert len(key) <= 255


async def test_records_survive_reopening(tmp_path: Path) -> None:
    """What one run recorded, the next run reads back, under the same batch id."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    entries = await journal.register(briefs("a", "b"))
    assert [e.state for e in entries] == ["pending", "pending"]
    await journal.record(1, state="created", project_id="prj_x", status="queued")
    await journal.record(0, state="done", path="/v/a.mp4", sha256="ab", size=3, rendered=True)
    batch_id = journal.batch_id
    await journal.aclose()

    again = await Journal.open(path)
    assert again.batch_id == batch_id
    first, second, _ = await again.register(briefs("a", "b", "c"))
    assert (first.state, first.path, first.size, first.rendered) == ("done", "/v/a.mp4", 3, True)
    assert (second.state, second.project_id) == ("created", "prj_x")
    assert second.key == idempotency_key(batch_id, 1, "b")
    assert len(await again.entries()) == 3
    assert again.statistics().writes >= 2
    await again.aclose()


async def test_changed_input_is_refused(tmp_path: Path) -> None:
    """A brief whose text changed at a recorded index raises instead of mixing two batches."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    await journal.register(briefs("a", "b"))
    await journal.aclose()
    again = await Journal.open(path)
    with pytest.raises(JournalMismatchError, match="brief 2 is not the brief"):
        await again.register(briefs("a", "B"))
    await again.aclose()
    with pytest.raises(JournalMismatchError, match="belongs to batch"):
        await Journal.open(path, batch_id="another")


async def test_journal_is_wal_sqlite(tmp_path: Path) -> None:
    """The journal is a WAL-mode SQLite file any sqlite3 tool can read."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    await journal.register(briefs("a"))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT brief, state FROM briefs").fetchall() == [("a", "pending")]
    await journal.aclose()


async def test_not_a_journal(tmp_path: Path) -> None:
    """A file that is not SQLite is a clear JournalMismatchError."""
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"hello, I am not a database" * 100)
    with pytest.raises(JournalMismatchError, match="not a batch journal"):
        await Journal.open(path)


async def test_null_journal_records_nothing() -> None:
    """The no-op journal gives fresh entries and costs nothing."""
    journal = NullJournal("b")
    (entry,) = await journal.register(briefs("a"))
    await journal.record(0, state="done")
    assert (entry.state, entry.key) == ("pending", idempotency_key("b", 0, "a"))
    assert journal.statistics().writes == 0


async def test_journal_of_an_older_version_is_upgraded(tmp_path: Path) -> None:
    """A journal written before ``render_from`` existed opens, keeps its rows and records it."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    await journal.register(briefs("a"))
    await journal.record(0, state="created", project_id="prj_x")
    await journal.aclose()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE briefs DROP COLUMN render_from")
    again = await Journal.open(path)
    (entry,) = await again.register(briefs("a"))
    assert (entry.project_id, entry.render_from) == ("prj_x", None)
    await again.record(0, render_from="2026-01-01T00:00:00+00:00")
    (entry,) = await again.entries()
    assert entry.render_from == "2026-01-01T00:00:00+00:00"
    await again.aclose()


class CountedIndex(int):
    """A brief index that counts every time it is hashed or compared (a look-up's work)."""

    looks = 0

    def __hash__(self) -> int:
        CountedIndex.looks += 1
        return int.__hash__(self)

    def __eq__(self, other: object) -> bool:
        CountedIndex.looks += 1
        return int.__eq__(self, other)


async def _work_of_registering(folder: Path, count: int) -> tuple[int, int, int]:
    """Index look-ups, SQL statements and SQLite steps of registering ``count`` briefs twice."""
    journal = await Journal.open(folder / f"j{count}.sqlite")
    statements: list[str] = []
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0  # go on

    journal._db.set_trace_callback(statements.append)
    journal._db.set_progress_handler(step, 100)  # every 100 SQLite VM instructions
    CountedIndex.looks = 0
    listed = [Brief(f"brief number {i}", index=CountedIndex(i)) for i in range(count)]
    first = await journal.register(listed)  # a new batch
    again = await journal.register(listed)  # the same batch resumed
    await journal.aclose()
    assert [e.index for e in first] == [e.index for e in again] == list(range(count))
    return CountedIndex.looks, len(statements), steps[0]


async def test_registering_is_linear_in_the_briefs(tmp_path: Path) -> None:
    """Four times the briefs cost at most about four times the look-ups, statements and steps."""
    small = await _work_of_registering(tmp_path, 500)
    large = await _work_of_registering(tmp_path, 2_000)
    for few, many in zip(small, large, strict=True):
        assert few > 0
        assert many <= 4.5 * few, (small, large)


@contextlib.contextmanager
def held_by_another_process(program: str, path: Path) -> Iterator[None]:
    """Run ``program`` (holding the journal at ``path``) in a subprocess while the block runs."""
    with subprocess.Popen(
        [sys.executable, "-c", program, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stdout.readline() == "holding\n"
        try:
            yield
        finally:
            process.stdin.close()
            assert process.wait(timeout=30) == 0


async def test_a_journal_another_run_holds_says_so(tmp_path: Path) -> None:
    """A journal another process's run holds is refused at once as locked, then opens when free."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    await journal.register(briefs("a"))
    await journal.aclose()
    with held_by_another_process(RUN_HOLDING, path):
        with pytest.raises(JournalLockedError, match="locked by another run") as info:
            await Journal.open(path)
        assert "not a batch journal" not in str(info.value)
    again = await Journal.open(path)
    assert [e.state for e in await again.entries()] == ["pending"]
    await again.aclose()


async def test_a_journal_in_a_writer_s_transaction_says_locked(tmp_path: Path) -> None:
    """A journal another process keeps in a write transaction is locked, not 'not a journal'."""
    path = tmp_path / "j.sqlite"
    journal = await Journal.open(path)
    await journal.aclose()
    with (
        held_by_another_process(WRITER_HOLDING, path),
        pytest.raises(JournalLockedError, match="locked by another run"),
    ):
        await Journal.open(path)  # after SQLite's busy timeout (5 s)


async def test_a_journal_open_here_is_locked_too(tmp_path: Path) -> None:
    """A second runner of this process cannot open a journal the first one holds."""
    path = tmp_path / "j.sqlite"
    first = await Journal.open(path)
    with pytest.raises(JournalLockedError):
        await Journal.open(path)
    with sqlite3.connect(path) as reader:  # readers are never blocked
        assert reader.execute("SELECT COUNT(*) FROM briefs").fetchone() == (0,)
    await first.aclose()
    second = await Journal.open(path)
    await second.aclose()


async def test_a_batch_whose_journal_is_held_sends_nothing(
    fast_simulator: Simulator, counted: tuple[AsyncVideoAgent, RequestCounter], tmp_path: Path
) -> None:
    """A run into an output folder another process is running a batch in sends nothing."""
    client, counter = counted
    runner = BatchRunner(client, out=tmp_path, count_requests=counter)
    with (
        held_by_another_process(RUN_HOLDING, tmp_path / JOURNAL_NAME),
        pytest.raises(JournalLockedError, match="locked by another run"),
    ):
        await runner.run(["a teaser"])
    assert fast_simulator.stats().requests == 0
