"""What a batch's credits cover: the contract's costs, the pre-flight's check, the run's ledger.

Before a run sends anything, ``check_credits`` checks the balance covers what
the open briefs are expected to spend; while it runs, the ``CreditLedger``
starts a new project only while the credits cover it on top of what the
started ones still need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from videoagent._errors import APIError, VideoAgentError
from videoagent._models import Account, CreditsWarning

from ._briefs import BriefProblem
from ._work import BriefWork

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent

__all__ = [
    "CREATE_COST",
    "MESSAGE_COST",
    "BatchCreditsError",
    "CreditLedger",
    "check_credits",
    "credits_spent",
]

#: Credits a create costs (the contract): the pre-flight needs this per new project.
CREATE_COST = 50
#: Credits a message costs (the contract): a reply or a retry.
MESSAGE_COST = 10


class BatchCreditsError(VideoAgentError):
    """The account's credits cannot cover the batch; nothing was sent.

    The estimate (``needed``): 50 for each new project, plus 10 for each
    collaborative brief (a reply to at least one decision point; how many a
    project stops at is not known beforehand), plus 10 for each brief whose
    earlier run failed (its retry). Retries of runs that fail from now on
    are not foreseen.
    """

    def __init__(self, message: str, *, credits: int, needed: int) -> None:
        super().__init__(message)
        self.credits = credits
        self.needed = needed


def _replies(item: BriefWork, mode: str | None) -> int:
    """Credits an open brief holds back for its replies: 10 if collaborative (at least one)."""
    params = item.create_params
    chosen = params.mode if params is not None else item.brief.mode or mode
    return MESSAGE_COST if chosen == "collaborative" else 0


def _started_need(item: BriefWork, mode: str | None) -> int:
    """What a brief with a project is expected to spend: its replies, and a retry if it failed.

    (A brief failed as its re-render was refused needs no retry: a render costs nothing.)
    """
    failed = item.entry.state == "failed" and item.entry.render_refused is None
    retry = MESSAGE_COST if failed else 0
    return _replies(item, mode) + retry


def check_credits(
    account: Account,
    work: Sequence[BriefWork],
    skipped: list[BriefProblem],
    *,
    allow_partial: bool,
    mode: str | None = None,
) -> None:
    """Check the ``account``'s credits cover what the open briefs are expected to spend.

    The estimate is ``BatchCreditsError``'s; ``mode`` is the batch's default.
    The briefs with a project come first: new ones count only against what
    they leave. A run with no new project always goes ahead. Short:
    ``BatchCreditsError``, or with ``allow_partial`` the new briefs beyond the
    credits end ``pending`` and are added to ``skipped``.
    """
    open_items = [item for item in work if item.outcome is None]
    new = [item for item in open_items if item.project_id is None]
    started = sum(_started_need(item, mode) for item in open_items if item.project_id is not None)
    costs = [CREATE_COST + _replies(item, mode) for item in new]
    needed = started + sum(costs)
    if not new or account.credits >= needed:
        return
    left, affordable = account.credits - started, 0
    for cost in costs:
        if cost > left:
            break
        left -= cost
        affordable += 1
    if not allow_partial:
        collaborative = sum(1 for item in new if _replies(item, mode))
        parts = [f"{CREATE_COST} for each of {len(new)} new projects"]
        if collaborative:
            parts.append(
                f"{MESSAGE_COST} for a first reply in each of {collaborative} collaborative ones"
            )
        if started:
            parts.append(f"{started:,} for the briefs already started")
        raise BatchCreditsError(
            f"the account has {account.credits:,} credits but the batch needs {needed:,} "
            f"({'; '.join(parts)}); top up, or allow a partial run of the first {affordable}",
            credits=account.credits,
            needed=needed,
        )
    for item in new[affordable:]:
        item.outcome = item.to_outcome("pending")
        skipped.append(
            BriefProblem(
                item.brief.source or f"brief {item.brief.index + 1}",
                f"skipped: not enough credits ({account.credits:,} cover {affordable} "
                "new projects)",
                item.brief.index,
            )
        )


class CreditLedger:
    """A run's estimate of the balance, and what its started briefs hold back.

    A new project starts only while the estimate covers its create and
    expected replies on top of what every started brief holds back (10 for
    each collaborative one): finishing started briefs comes first, so the
    batch stops creating before it would leave a project stuck at a decision
    point. The estimate starts at the pre-flight's balance, loses what this
    run spends, and follows every ``credits_warning`` lower (the server's own
    figure, which also counts other spenders of the account).
    """

    def __init__(self, balance: int, *, mode: str | None = None) -> None:
        self._balance = balance
        self._mode = mode
        self._held: dict[int, int] = {}
        self._held_total = 0  # sum(self._held.values()), kept as they change
        #: New briefs not started because the credits ran low.
        self.skipped: list[BriefProblem] = []

    @property
    def balance(self) -> int:
        """The estimated balance now."""
        return self._balance

    @property
    def held(self) -> int:
        """Credits the started briefs hold back."""
        return self._held_total

    def hold(self, item: BriefWork) -> None:
        """A started brief (with a project, or its create sent before) holds its replies back."""
        self.release(item)
        self._held[item.brief.index] = held = _replies(item, self._mode)
        self._held_total += held

    def start(self, item: BriefWork, *, new: bool) -> bool:
        """Count a create about to be sent; ``new`` ones only if the credits cover them.

        A brief not started ends ``pending`` and is listed in ``skipped``.
        """
        need = CREATE_COST + _replies(item, self._mode)
        if new and self._balance - self.held < need:
            item.outcome = item.to_outcome("pending")
            self.skipped.append(
                BriefProblem(
                    item.brief.source or f"brief {item.brief.index + 1}",
                    f"skipped: credits ran low (about {max(self._balance, 0):,} left, "
                    f"{self.held:,} held back for started briefs, {need} needed)",
                    item.brief.index,
                )
            )
            return False
        self._balance -= CREATE_COST
        self.hold(item)
        return True

    def spent(self, credits: int) -> None:
        """This run spent ``credits`` (a message)."""
        self._balance -= credits

    def release(self, item: BriefWork) -> None:
        """The brief is over for this run: it holds nothing back any more."""
        self._held_total -= self._held.pop(item.brief.index, 0)

    def observed(self, warning: CreditsWarning) -> None:
        """A ``credits_warning`` came: the estimate is at most its balance."""
        self._balance = min(self._balance, warning.balance)


async def credits_spent(client: AsyncVideoAgent, balance: int) -> int | None:
    """Credits spent since the balance was ``balance`` (one look, even while cancelled;
    ``None`` if the account cannot be read)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(30 * client.time_scale + 5):
        try:
            return balance - (await client.account.get()).credits
        except APIError:
            return None
    return None
