"""Text for the terminal: what the server (or a file) says is shown, never obeyed.

A brief, an agent's message or an error message may carry characters a
terminal acts on: ESC sequences (colours, cursor moves, window titles), CR
(overwrite the line), BEL, the other C0 and C1 controls, and the bidi
controls that reorder what is shown (Trojan Source). ``printable`` writes
each of them as a visible escape (``\\x1b``, ``\\u202e``), as do lone
surrogates, which no terminal encoding can write. Every human-readable line
the command prints goes through it; JSON output is escaped by ``json.dumps``.
"""

from __future__ import annotations

import itertools

__all__ = ["printable", "printable_lines"]

#: Bidi formatting controls: marks, embeddings, overrides and isolates.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPED = itertools.chain(
    range(0x20),  # C0, LF and TAB included: one value stays on one line
    range(0x7F, 0xA0),  # DEL and C1 (0x9B is a one-byte CSI on some terminals)
    (0x2028, 0x2029),  # line and paragraph separators
    _BIDI,
    range(0xD800, 0xE000),  # lone surrogates
)
_TABLE = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _ESCAPED}


def printable(text: str) -> str:
    """``text`` with every control, bidi control and lone surrogate written as an escape."""
    return text.translate(_TABLE)


def printable_lines(text: str) -> str:
    """``text`` made printable line by line: its own line breaks stay, nothing else acts."""
    return "\n".join(printable(line) for line in text.split("\n"))
