"""The request budget and the active-project slots, in scaled real time."""

from __future__ import annotations

import time

import anyio
import pytest
from common_helpers import REQUEST_LIMIT, max_in_window

from videoagent._config import Limits
from videoagent._limiter import ActiveSlots, Priority, RequestBudget

#: 60 contract seconds become 0.12 real seconds.
SCALE = 0.002
WINDOW = 60 * SCALE


async def _send_many(
    budget: RequestBudget, n: int, priority: Priority = Priority.USER
) -> list[float]:
    """Acquire ``n`` tickets concurrently, answer each at once; return send times."""
    sent: list[float] = []

    async def one() -> None:
        ticket = await budget.acquire(priority)
        sent.append(time.monotonic())
        budget.release(ticket)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return sent


async def test_no_window_holds_more_than_the_limit() -> None:
    """75 eager requests never put more than 30 into any window, yet use the budget."""
    budget = RequestBudget(Limits(), time_scale=SCALE)
    sent = await _send_many(budget, 75)
    assert len(sent) == 75
    assert max_in_window(sent, WINDOW) <= REQUEST_LIMIT
    # 30 at once, 30 a window later, 15 a window after that: no idle windows.
    assert 2 * WINDOW <= max(sent) - min(sent) < 3 * WINDOW


async def test_the_31st_request_waits_a_whole_window_after_the_first_answer() -> None:
    """A slot is held for one window after its answer, not after its send."""
    budget = RequestBudget(Limits(requests=2, reserve=0), time_scale=SCALE)
    first = await budget.acquire()
    await anyio.sleep(WINDOW / 2)  # a slow answer
    budget.release(first)
    answered = time.monotonic()
    budget.release(await budget.acquire())
    third = await budget.acquire()
    assert time.monotonic() - answered >= WINDOW * 0.99
    budget.release(third)


async def test_polls_leave_the_reserve_to_user_calls() -> None:
    """Routine polls stop at limit - reserve; a user call still gets a slot at once."""
    budget = RequestBudget(Limits(requests=5, reserve=2), time_scale=10.0)
    for _ in range(3):
        budget.release(await budget.acquire(Priority.POLL))
    assert budget.try_acquire(Priority.POLL) is None
    user = budget.try_acquire(Priority.USER)
    assert user is not None
    budget.release(user)


async def test_user_calls_jump_ahead_of_waiting_polls() -> None:
    """When slots free, a waiting user call is served before earlier waiting polls."""
    budget = RequestBudget(Limits(requests=1, reserve=0), time_scale=SCALE)
    blocker = await budget.acquire()
    order: list[str] = []

    async def take(name: str, priority: Priority) -> None:
        ticket = await budget.acquire(priority)
        order.append(name)
        budget.release(ticket)

    async with anyio.create_task_group() as tg:
        tg.start_soon(take, "poll", Priority.POLL)
        await anyio.sleep(0.01)
        tg.start_soon(take, "user", Priority.USER)
        await anyio.sleep(0.01)
        budget.release(blocker)
    assert order == ["user", "poll"]


async def test_a_429_pauses_every_request() -> None:
    """``pause`` holds back even a free budget for Retry-After scaled seconds."""
    budget = RequestBudget(Limits(), time_scale=SCALE)
    budget.pause(20)
    start = time.monotonic()
    budget.release(await budget.acquire())
    assert time.monotonic() - start >= 20 * SCALE * 0.99


@pytest.mark.parametrize("retry_after", [float("nan"), -5.0, 0.0])
async def test_nonsense_retry_after_is_ignored(retry_after: float) -> None:
    """A negative, zero or NaN Retry-After never blocks nor crashes."""
    budget = RequestBudget(Limits(), time_scale=SCALE)
    budget.pause(retry_after)
    assert budget.statistics().paused_for == 0.0


async def test_server_count_of_another_client_holds_our_slots() -> None:
    """Remaining below our own view means another client: its share is held."""
    budget = RequestBudget(Limits(requests=10, reserve=0), time_scale=10.0)
    budget.observe(remaining=4, reset=None)
    assert budget.statistics().held == 6
    tickets = [budget.try_acquire() for _ in range(5)]
    assert sum(t is not None for t in tickets) == 4


async def test_cancelled_waiter_leaves_the_queue() -> None:
    """A cancelled acquire frees its place; the next waiter is served."""
    budget = RequestBudget(Limits(requests=1, reserve=0), time_scale=SCALE)
    blocker = await budget.acquire()
    with anyio.move_on_after(0.01):
        await budget.acquire()
    assert budget.statistics().waiting == 0
    budget.release(blocker)
    budget.release(await budget.acquire())


async def test_unlimited_budget_never_waits() -> None:
    """Limits.unlimited() admits everything at once."""
    budget = RequestBudget(Limits.unlimited(), time_scale=1.0)
    with anyio.fail_after(1):
        sent = await _send_many(budget, 500)
    assert len(sent) == 500


async def test_slots_admit_five_and_free_on_an_inactive_sighting() -> None:
    """The sixth reservation waits until a held project is seen inactive."""
    slots = ActiveSlots(5)
    for i in range(5):
        (await slots.reserve()).bind(f"prj_{i:08d}")
    got: list[str] = []

    async def sixth() -> None:
        reservation = await slots.reserve()
        got.append("sixth")
        reservation.bind("prj_00000005")

    async with anyio.create_task_group() as tg:
        tg.start_soon(sixth)
        await anyio.sleep(0.01)
        assert got == []
        slots.observe("prj_00000002", active=False)
    assert got == ["sixth"]
    assert slots.statistics().held == 5


async def test_cancelled_reservation_frees_its_slot() -> None:
    """A failed create gives its slot back."""
    slots = ActiveSlots(1)
    with await slots.reserve():
        pass  # the request failed: leaving the block cancels
    with anyio.fail_after(1):
        (await slots.reserve()).bind("prj_aaaaaaaa")
    assert slots.held() == {"prj_aaaaaaaa"}


async def test_foreign_projects_hold_slots_until_their_ttl() -> None:
    """Active projects we do not know block slots for a while, then we try again."""
    slots = ActiveSlots(2, foreign_ttl=0.05)
    slots.sync(2)
    assert slots.statistics().foreign == 2
    start = time.monotonic()
    with anyio.fail_after(1):
        (await slots.reserve()).bind("prj_bbbbbbbb")
    assert time.monotonic() - start >= 0.04


async def test_an_unanswered_request_lingers_past_the_window() -> None:
    """A timed-out request holds its slot for the window plus the linger it was given."""
    budget = RequestBudget(Limits(requests=1, reserve=0), time_scale=SCALE)
    budget.release(await budget.acquire(), linger=30)
    released = time.monotonic()
    budget.release(await budget.acquire())
    assert time.monotonic() - released >= (60 + 30) * SCALE * 0.99


def _frozen_slots(limit: int) -> ActiveSlots:
    """Slots on a clock that never moves: unknown projects hold their slots throughout."""
    return ActiveSlots(limit, foreign_ttl=30.0, clock=lambda: 0.0)


async def test_our_answer_seen_before_bind_leaves_the_foreign_slots_counted() -> None:
    """A create's answer, observed before its reservation binds it, takes no foreign slot."""
    slots = _frozen_slots(5)
    slots.sync(2)
    for n in range(3):
        reservation = await slots.reserve()
        slots.observe(f"prj_own{n:05d}", active=True)  # the transport parses the answer first
        reservation.bind(f"prj_own{n:05d}")
    stats = slots.statistics()
    assert (stats.held, stats.pending, stats.foreign) == (3, 0, 2)
    with anyio.move_on_after(0.01) as waited:
        await slots.reserve()
    assert waited.cancelled_caught


async def test_an_unknown_project_seen_while_a_create_is_pending_is_adopted_after() -> None:
    """A sighting no bind claims was another client's project: it takes a foreign slot's place."""
    slots = _frozen_slots(5)
    slots.sync(2)
    reservation = await slots.reserve()
    slots.observe("prj_theirs0001", active=True)  # e.g. from a list() meanwhile
    slots.observe("prj_mine000001", active=True)
    assert slots.statistics().foreign == 2
    reservation.bind("prj_mine000001")
    stats = slots.statistics()
    assert slots.held() == {"prj_theirs0001", "prj_mine000001"}
    assert (stats.pending, stats.foreign) == (0, 1)


async def test_a_lapsed_reservation_holds_its_slot_until_the_server_count_drops() -> None:
    """A create that may have taken effect keeps a placeholder; the server's count ends it."""
    slots = _frozen_slots(1)
    (await slots.reserve()).lapse()
    assert slots.statistics().placeholders == 1
    with anyio.move_on_after(0.01) as waited:
        await slots.reserve()
    assert waited.cancelled_caught
    slots.sync(1)  # the project exists: still held
    assert (slots.statistics().placeholders, slots.statistics().foreign) == (1, 0)
    slots.sync(0)  # the server counts nothing active: there was none, or it ended
    with anyio.fail_after(1):
        (await slots.reserve()).bind("prj_aaaaaaaa")
    assert slots.statistics().placeholders == 0
