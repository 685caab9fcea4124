"""Live progress of a batch: a rich display on a terminal, plain log lines elsewhere.

On a terminal: one line per brief in progress (name, project, status, elapsed
time) under an overall bar. Not a terminal (a pipe, a CI log): one line per
change. ``--quiet``: nothing. All of it goes to stderr; results go to stdout.
Text from the server (error messages) and brief names are never read as rich
markup or emoji codes, nor by the terminal (``printable``).
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Protocol

from videoagent.batch import BriefUpdate

from ._text import printable

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["Display", "LiveDisplay", "LogDisplay", "NullDisplay", "make_display"]

_FINISHED = frozenset({"done", "failed", "stopped"})


class Display(Protocol):
    """Shows ``BriefUpdate``s while a batch runs (a context manager)."""

    def __enter__(self) -> Display: ...
    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None, /
    ) -> None: ...
    def set_total(self, total: int) -> None: ...
    def update(self, update: BriefUpdate) -> None: ...
    def note(self, text: str) -> None: ...


class NullDisplay:
    """Shows nothing (``--quiet``, ``--json``)."""

    def __enter__(self) -> NullDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set_total(self, total: int) -> None:
        """Nothing."""

    def update(self, update: BriefUpdate) -> None:
        """Nothing."""

    def note(self, text: str) -> None:
        """Nothing."""


class LogDisplay:
    """One plain line per change: ``[ 3/30] 0003-teaser.mp4 prj_... running``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._total = 0
        self._finished: set[int] = set()
        self._last: dict[int, str] = {}

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stream.flush()

    def set_total(self, total: int) -> None:
        """The number of briefs in the run."""
        self._total = total

    def update(self, update: BriefUpdate) -> None:
        """Print the change (repeats of the same state are dropped)."""
        if self._last.get(update.index) == update.state:
            return
        self._last[update.index] = update.state
        if update.state in ("done", "failed"):
            self._finished.add(update.index)
        width = len(str(self._total))
        line = f"[{len(self._finished):>{width}}/{self._total}] {update.name}"
        if update.project_id:
            line += f" {update.project_id}"
        line += f" {update.state}"
        if update.detail and update.state in ("failed", "retrying", "done"):
            line += f": {update.detail}"
        self._stream.write(printable(line) + "\n")
        self._stream.flush()

    def note(self, text: str) -> None:
        """Print a line."""
        self._stream.write(printable(text) + "\n")
        self._stream.flush()


class LiveDisplay:
    """A rich live view: the active briefs and an overall bar, redrawn in place."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console  # noqa: PLC0415 - rich is the cli extra

        self._console = Console(file=stream, highlight=False, emoji=False)
        self._lock = threading.Lock()  # rich redraws from its own thread
        self._total = 0
        self._done = 0
        self._failed = 0
        self._active: dict[int, tuple[BriefUpdate, float]] = {}
        self._live: object | None = None

    def __enter__(self) -> LiveDisplay:
        from rich.live import Live  # noqa: PLC0415 - rich: the cli extra

        live = Live(
            get_renderable=self._render,
            console=self._console,
            refresh_per_second=8,
            transient=False,
        )
        live.__enter__()
        self._live = live
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        from rich.live import Live  # noqa: PLC0415 - rich: the cli extra

        if isinstance(self._live, Live):
            self._live.__exit__(t, e, tb)
        self._live = None

    def set_total(self, total: int) -> None:
        """The number of briefs in the run."""
        with self._lock:
            self._total = total

    def update(self, update: BriefUpdate) -> None:
        """Record the change; the next redraw shows it."""
        line = None
        name = _shown(update.name)
        with self._lock:  # never print while holding it: rich's redraw thread takes it
            if update.state in _FINISHED:
                entry = self._active.pop(update.index, None)
                took = f" in {time.monotonic() - entry[1]:.1f}s" if entry else ""
                if update.state == "done":
                    self._done += 1
                    line = f"[green]done[/]    {name}{took}"
                elif update.state == "failed":
                    self._failed += 1
                    detail = f": {_shown(update.detail)}" if update.detail else ""
                    line = f"[red]failed[/]  {name}{detail}"
            else:
                previous = self._active.get(update.index)
                started = previous[1] if previous else time.monotonic()
                self._active[update.index] = (update, started)
        if line is not None:
            self._console.print(line)

    def note(self, text: str) -> None:
        """Print a line above the live view (as it is: never markup)."""
        self._console.print(printable(text), markup=False)

    def _render(self) -> Group:
        from rich.progress_bar import ProgressBar  # noqa: PLC0415 - rich: the cli extra
        from rich.table import Table  # noqa: PLC0415 - rich: the cli extra

        with self._lock:
            now = time.monotonic()
            table = Table.grid(padding=(0, 2))
            for update, started in sorted(self._active.values(), key=lambda a: a[0].index):
                table.add_row(
                    _shown(update.name),
                    _shown(update.project_id or ""),
                    f"[cyan]{_shown(update.state)}[/]",
                    f"{now - started:5.1f}s",
                )
            finished = self._done + self._failed
            bar = Table.grid(padding=(0, 1))
            bar.add_row(
                ProgressBar(total=max(self._total, 1), completed=finished, width=40),
                f"{finished}/{self._total}",
                f"[green]{self._done} done[/]",
                f"[red]{self._failed} failed[/]" if self._failed else "",
                f"{len(self._active)} active",
            )
            from rich.console import Group  # noqa: PLC0415 - rich: the cli extra

            return Group(table, bar)


def _shown(text: str) -> str:
    """``text`` for rich markup: printable, and its brackets not read as markup."""
    from rich.markup import escape  # noqa: PLC0415 - rich is the cli extra

    return escape(printable(text))


def make_display(*, quiet: bool, stream: IO[str] | None = None) -> Display:
    """The right display for ``stream`` (default stderr): live on a terminal, else lines."""
    stream = stream or sys.stderr
    if quiet or stream is None:  # (no stderr at all: pythonw)
        return NullDisplay()
    if stream.isatty():
        try:
            return LiveDisplay(stream)
        except ImportError:  # rich missing: the cli extra is not installed
            return LogDisplay(stream)
    return LogDisplay(stream)
