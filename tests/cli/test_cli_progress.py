"""The progress display shows server text as it is, and its failures never stop a batch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cli_helpers import SCALE

from videoagent.batch import BriefUpdate
from videoagent.cli import _batch as cli_batch
from videoagent.cli import main
from videoagent.cli._progress import LiveDisplay, NullDisplay

#: Text a server may send that rich would read as markup or emoji codes.
TRICKY = "render step [/render] timed out [bold]:warning: \\"


def test_live_display_prints_server_text_literally() -> None:
    """A failure message with markup, a closing tag and an emoji code is printed as sent."""
    stream = io.StringIO()
    display = LiveDisplay(stream)
    display.set_total(2)
    with display:
        display.update(BriefUpdate(0, "[red]a.mp4", "running", "prj_12345678"))
        display.update(BriefUpdate(0, "[red]a.mp4", "failed", "prj_12345678", TRICKY))
        display.note("webhooks: listening at http://[::1]:8080/[/hooks]")
    output = stream.getvalue()
    assert f"failed  [red]a.mp4: {TRICKY}" in output
    assert "http://[::1]:8080/[/hooks]" in output


class BrokenDisplay(NullDisplay):
    """A display whose every update raises, as a rendering bug would."""

    def update(self, update: BriefUpdate) -> None:
        raise RuntimeError(f"cannot draw {update.name}")


def test_a_failing_display_does_not_stop_the_batch(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every display update raises, yet the batch makes its videos and ends with status 0."""
    monkeypatch.setattr(cli_batch, "make_display", lambda **_: BrokenDisplay())
    briefs = tmp_path / "briefs.txt"
    briefs.write_text("display teaser one\ndisplay teaser two\n", encoding="utf-8")
    out = tmp_path / "v"
    argv = ["batch", str(briefs), "--out", str(out), "--simulate", "--time-scale", str(SCALE)]
    assert main(argv) == 0
    stdout, _ = capsys.readouterr()
    assert "2 done, 0 failed, 0 skipped" in stdout
    assert sorted(p.name for p in out.glob("*.mp4")) == [
        "0001-display-teaser-one.mp4",
        "0002-display-teaser-two.mp4",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "videoagent.cli"]
    assert len(warnings) == 1  # once, not once per update
    assert warnings[0].startswith(
        "progress display failed (the batch goes on): RuntimeError('cannot draw 000"
    )
