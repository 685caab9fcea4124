"""A brief's working state during a run, and what its create is sent with.

``BriefWork`` is what the pre-flight and the pipeline share about one
brief: its journal entry, its project, what it spent, and its outcome once
it has one. ``CreateParams`` are the create's parameters
besides the brief's text and key, journaled before the create is sent.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ._briefs import Brief
from ._journal import JournalEntry
from ._summary import BriefOutcome, OutcomeState

__all__ = ["BriefWork", "CreateParams"]


@attrs.frozen
class CreateParams:
    """What a brief's create is sent with besides its text and idempotency key.

    The server compares these on an idempotent replay, so a resumed create
    must send the very ones its first send had (journaled as ``to_json()``).
    """

    mode: str | None = None
    webhook_url: str | None = None
    metadata: dict[str, str] | None = None

    def to_json(self) -> str:
        """The journal's text of them (stable: keys sorted)."""
        return json.dumps(
            {"mode": self.mode, "webhook_url": self.webhook_url, "metadata": self.metadata},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> CreateParams | None:
        """The parameters ``to_json`` wrote; ``None`` for none or unreadable text."""
        if not text:
            return None
        try:
            data = json.loads(text)
            metadata = data.get("metadata")
            return cls(
                _optional_str(data.get("mode")),
                _optional_str(data.get("webhook_url")),
                None if metadata is None else {str(k): str(v) for k, v in dict(metadata).items()},
            )
        except (ValueError, TypeError, AttributeError):
            return None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


@attrs.define
class BriefWork:
    """A brief's working state during a run."""

    brief: Brief
    entry: JournalEntry
    project_id: str | None
    retries: int = 0
    replies: int = 0
    rendered: bool = False
    #: An earlier run sent the render when the project had this ``updated_at``.
    render_from: str | None = None
    #: An earlier run sent a retry when the project had this ``updated_at``.
    retry_from: str | None = None
    outcome: BriefOutcome | None = None
    #: What the create was (or is to be) sent with: an earlier send's, to send again.
    create_params: CreateParams | None = None
    #: ``create_params`` is in this process's journal already.
    params_journaled: bool = False
    #: The account refused the re-render (why): the first result is kept, the brief fails.
    render_refused: str | None = None

    @classmethod
    def resume(cls, brief: Brief, entry: JournalEntry, *, afresh: bool = True) -> BriefWork:
        """The brief as its journal entry left it; ``afresh`` (a new run): a failed brief
        gets its retries afresh."""
        failed = afresh and entry.state == "failed"
        params = CreateParams.from_json(entry.create_params)
        return cls(
            brief,
            entry,
            entry.project_id,
            0 if failed else entry.retries,
            entry.replies,
            entry.rendered,
            entry.render_from,
            None if failed else entry.retry_from,
            create_params=params,
            params_journaled=params is not None,
            render_refused=entry.render_refused,
        )

    def to_outcome(self, state: OutcomeState, **fields: Any) -> BriefOutcome:
        """Its outcome in ``state`` (``fields``: path, sha256, size, error, request_id)."""
        return BriefOutcome(
            self.brief.index,
            self.entry.file_name,
            state,
            project_id=self.project_id,
            retries=self.retries,
            replies=self.replies,
            **fields,
        )
