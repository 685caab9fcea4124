"""``ProjectWatcher``: one scheduler that polls many projects within the account's limits.

How it works, in one pass:

- Every watched project is an ``Entry`` with a *due time*: when its status
  next allows a poll (``PollPolicy``: 5 s queued, 30 s running, 30-60 s
  generating, 30 s rendering; never sooner). Due times sit in one heap; a
  single scheduler task sleeps until the earliest and costs nothing per
  project while it waits. Terminal projects (idle, failed, cancelled) are
  dormant: no due time until something re-activates them.
- Pull, not push: a due project polls at once (handed, with its budget
  ticket, to one of a bounded pool of worker tasks) if its client's
  request budget has a free slot (leaving ``Limits.reserve`` to the user's own
  calls). Otherwise it *parks* in its client's lane, and the lane's drainer
  waits for the next slot and then picks the parked project that should go
  first: webhook-notified ones, then by due time moved ahead by a bounded
  bonus for projects close to done (rendering > generating > running). The
  bonus is capped, so no project starves.
- Every ``Project`` the client parses (a poll, or the user's own ``get`` or
  ``send_message``) updates the entry through the transport's listener: a
  fresh answer moves the next poll later (which costs the heap nothing), a
  status change re-plans it at once, emits events, and frees or takes the
  active-project slot (the transport's ``ActiveSlots``).
- One watcher may serve many clients (a backend holding many users' keys):
  each client gets a lane over its own budget; there is still one heap and
  one scheduler task.
- Webhooks: ``notify`` polls a project ahead of routine polls. A project
  whose changes arrive by webhook keeps routine polls only as a safety net
  (webhooks are delivered once), at ``HOOKED_STRETCH`` times its status
  interval; a notify naming a status already seen costs no request.
- An entry stays while anyone needs it: a ``watch``, a ``wait`` not woken
  yet, or the client's slot tracking. Each reason ends on its own, so one
  wait's timeout ends no other wait; slot tracking outlives a ``wait``, an
  ``unwatch`` and a run of failed polls (it backs off) until the project is
  seen to leave the active states, or is gone (its slot is then freed).
- Several watchers on one client (the client's shared watcher tracks every
  project holding a slot; a user's watcher may watch it too) do not poll a
  project twice: a routine poll is skipped while another watcher's poll of
  it is in flight, and any fresh answer re-plans every watcher's entry.
- Fleet mode (``Limits.backend``): several processes may watch one project.
  Each watched project is ``want``ed from the transport's ``WatchShare``; a
  due project is polled only by the process that owns its lease, the others
  re-plan (the owner shares each fresh answer, which reaches them as if they
  had polled). ``notify`` is relayed to every process, so a webhook received
  by any replica reaches the owner.

The cadence and fairness rules (intervals, ``BONUS``, ``HOOKED_STRETCH``) are
pure functions in ``_cadence``; ``Entry``, ``Lane`` and the in-flight registry
live in ``_watchstate``; the due-time heap, the lanes' parking and the poll
workers are ``_scheduler.PollScheduler``. This module holds the watcher that
uses them: what to poll and when, and what the answers mean.
"""

from __future__ import annotations

import logging
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import attrs

from . import _cadence
from ._cadence import INF
from ._config import PollPolicy
from ._errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    VideoAgentError,
    WaitTimeoutError,
    WatchStoppedError,
)
from ._events import (
    AgentMessage,
    Callback,
    CreditsLow,
    DecisionPoint,
    StatusChanged,
    Subscription,
    WatchEvent,
    WatchFailed,
)
from ._limiter import Priority, Ticket
from ._models import CreditsWarning, Project, ProjectStatus
from ._scheduler import PollScheduler
from ._watchstate import Entry, Lane, Waiter, in_flight

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

if TYPE_CHECKING:
    from ._client import AsyncVideoAgent

__all__ = ["ProjectWatcher", "WatcherStatistics"]

logger = logging.getLogger("videoagent.watcher")

#: Errors after which polling a project is pointless: it is gone or not ours.
_FATAL = (NotFoundError, AuthenticationError, PermissionDeniedError)
#: Contract seconds between polls at most while a project that holds an active
#: slot is polled on through failures (its interval doubles per failed poll).
_BACKOFF_MAX = 300.0
#: Message cursors of forgotten projects kept (the least recently forgotten go
#: first): a project watched again (the client's slot tracking re-adds one at
#: each message or render) does not announce its old messages twice.
_CURSORS_KEPT = 10_000


@attrs.frozen
class WatcherStatistics:
    """A snapshot of a watcher.

    Attributes:
        watched: projects being watched (dormant ones included).
        polling: projects with a due time (in an active state, or notified).
        parked: due polls waiting for a request slot.
        polls: GET requests the watcher has made.
        message_fetches: message-list requests the watcher has made.
    """

    watched: int
    polling: int
    parked: int
    polls: int
    message_fetches: int


class ProjectWatcher:
    """Polls many projects, each at the interval its status calls for, within the limits.

    Example::

        async with ProjectWatcher(client) as watcher:
            for project_id in ids:
                watcher.watch(project_id)
            async for event in watcher.events():
                print(event)

    ``client.projects.wait(id)`` uses the client's own shared watcher. All
    polls go through the client's request budget (routine polls leave
    ``Limits.reserve`` slots to other calls), so the watcher never causes a
    429, however many projects it watches.

    Args:
        client: the client whose projects are watched (``watch(client=...)``
            adds projects of other clients, e.g. other accounts).
        policy: the polling intervals (default: the contract's).
    """

    def __init__(self, client: AsyncVideoAgent, *, policy: PollPolicy | None = None) -> None:
        self._client = client
        self._policy = policy or PollPolicy()
        self._clock = time.monotonic
        self._entries: dict[str, Entry] = {}
        self._cursors: dict[str, str] = {}  # project id -> newest message id, once forgotten
        self._lanes: dict[int, Lane] = {}
        self._scheduler = PollScheduler(
            poll=self._poll,
            polled=self._polled,
            put_off=self._put_off,
            clock=self._clock,
            time_scale=client.time_scale,
        )
        self._task_group: anyio.abc.TaskGroup | None = None
        self._subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._credits_balance: int | None = None
        self._polls = 0
        self._message_fetches = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"<ProjectWatcher watched={len(self._entries)} client={self._client!r}>"

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._task_group is not None or self._closed:
            raise RuntimeError("a ProjectWatcher can be entered once")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self._lane(self._client)
        self._scheduler.start(task_group)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        self._closed = True
        self._task_group.cancel_scope.cancel()
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._scheduler.close()
        for lane in self._lanes.values():
            transport = lane.client._transport
            _discard(transport.project_listeners, self._observe)
            _discard(transport.credits_listeners, self._on_credits)
            if lane.share is not None:
                lane.share.remove_watcher(self._on_owned)
        for entry in self._entries.values():
            if entry.lane.share is not None:
                entry.lane.share.unwant(entry.project_id)
            entry.done = True
            stopped = WatchStoppedError(
                f"the watcher closed before {entry.project_id} finished",
                project_id=entry.project_id,
            )
            self._release_waiters(entry, None if entry.settled else stopped)
        self._entries.clear()
        for subscription in list(self._subscribers):
            subscription.close()

    # -- the public API ----------------------------------------------------------

    def watch(
        self,
        project: str | Project,
        *,
        on_event: Callback | None = None,
        client: AsyncVideoAgent | None = None,
    ) -> None:
        """Start watching a project (by id, or a ``Project`` you just got back).

        Given a ``Project``, its state is taken as fresh: the first poll waits
        the interval of its status. Given an id, the first poll is made as
        soon as the budget allows. Watching a watched project only adds the
        callback. ``on_event`` is called with each event of this project.
        """
        self._check_open()
        project_id = project if isinstance(project, str) else project.id
        entry = self._entries.get(project_id)
        fresh = entry is None
        if entry is None:
            entry = self._add(project_id, client or self._client)
        entry.watched = True
        if on_event is not None:  # before the first event, so that it sees it
            entry.callbacks = [*(entry.callbacks or ()), on_event]
        if fresh:
            self._start(entry, project)

    def _track(self, project: str | Project) -> None:
        """Keep polling a project that holds an active slot until it is seen to leave
        the active states (the client calls this so that slots free on time).

        Slot tracking is a reason of its own to keep an entry: a ``wait`` that
        ends, an ``unwatch`` or a run of failed polls does not end it.
        """
        if self._closed or self._task_group is None:
            return
        project_id = project if isinstance(project, str) else project.id
        entry = self._entries.get(project_id)
        if entry is None:
            entry = self._add(project_id, self._client)
            entry.tracked = True
            self._start(entry, project)
        else:
            entry.tracked = True
            if entry.project is not None:  # seen terminal, yet it holds a slot: look again
                self._scheduler.set_due(entry, self._clock())

    def unwatch(self, project_id: str) -> None:
        """Stop watching; a ``wait`` on it raises ``WatchStoppedError``. Unknown ids are ignored."""
        entry = self._entries.get(project_id)
        if entry is None:
            return
        entry.watched = False
        entry.callbacks = None
        if not entry.settled:
            self._release_waiters(
                entry,
                WatchStoppedError(
                    f"{project_id} was unwatched before it finished", project_id=project_id
                ),
            )
        if not entry.needed:  # (the client's slot tracking polls on, silently)
            self._drop(entry)

    def notify(self, project_id: str, *, status: str | ProjectStatus | None = None) -> None:
        """Something happened to the project (a webhook arrived): poll it now.

        The poll goes ahead of routine polls as soon as the budget allows; the
        state always comes from the GET, never from the webhook. ``status``
        (the webhook's) saves the poll if a GET already showed that status.
        From the first notify on, routine polls of the project are only a
        safety net and come at twice the status interval. Unwatched ids are
        ignored (in fleet mode the notify still reaches the other processes).
        """
        share = self._client._transport.fleet.watch if self._client._transport.fleet else None
        if share is not None:
            share.relay(project_id, None if status is None else str(status))
        self._notify_local(project_id, None if status is None else str(status))

    def _notify_local(self, project_id: str, status: str | None) -> None:
        """``notify`` in this process only (fleet mode: also a notify relayed from another)."""
        entry = self._entries.get(project_id)
        if entry is None or entry.done:
            return
        entry.hooked = True
        hint = None if status is None else ProjectStatus.parse(str(status))
        if hint is ProjectStatus.UNKNOWN:
            hint = None
        if hint is not None and hint is entry.status and not entry.polling:
            return  # already seen (e.g. the create's own "queued")
        entry.hint = hint
        if entry.notified and entry.parked:
            return  # already first in its lane (a webhook storm queues it once)
        entry.notified = True
        self._scheduler.hurry(entry)

    async def wait(self, project_id: str, *, timeout: float | None = None) -> Project:  # noqa: ASYNC109 - the design's name; scaled by time_scale
        """The project once it is idle, failed or cancelled.

        Watches it if it is not watched yet (and stops when this returns).
        ``timeout`` is a deadline in contract seconds for the whole wait;
        past it, ``WaitTimeoutError``, and the temporary watch ends.
        """
        self._check_open()
        entry = self._entries.get(project_id)
        if entry is None:
            entry = self._add(project_id, self._client)
            self._start(entry, project_id)
        if entry.settled:
            assert entry.project is not None
            return entry.project
        waiter = Waiter()
        entry.waiters = [*(entry.waiters or ()), waiter]
        try:
            deadline = INF if timeout is None else timeout * entry.lane.client.time_scale
            with anyio.move_on_after(deadline):
                await waiter.event.wait()
            if not waiter.event.is_set():
                raise WaitTimeoutError(
                    f"{project_id} was still {entry.status or 'unseen'} after {timeout} s",
                    project_id=project_id,
                )
            if waiter.error is not None:
                raise waiter.error
            assert waiter.project is not None
            return waiter.project
        finally:
            if entry.waiters and waiter in entry.waiters:  # timed out or cancelled
                entry.waiters.remove(waiter)
            if not entry.needed:  # (other waits, a watch or slot tracking keep it)
                self._drop(entry)

    def events(self, *project_ids: str) -> AsyncIterator[WatchEvent]:
        """Events from now on (of the given projects, or all), as an async iterator.

        Each call is its own subscription, buffered: a slow reader never
        slows the polling. It ends when the watcher closes; drop it (or
        ``aclose()`` it) to unsubscribe.
        """
        self._check_open()
        subscription = Subscription(frozenset(project_ids))
        self._subscribers.add(subscription)
        return subscription

    def statistics(self) -> WatcherStatistics:
        """A frozen snapshot of the watcher's state."""
        return WatcherStatistics(
            watched=len(self._entries),
            polling=sum(1 for e in self._entries.values() if e.due < INF or e.polling),
            parked=sum(e.parked for lane in self._lanes.values() for _, _, e in lane.parked),
            polls=self._polls,
            message_fetches=self._message_fetches,
        )

    # -- planning ------------------------------------------------------------------

    def _interval_seconds(self, entry: Entry) -> float:
        """Real seconds of the entry's routine interval (the unknown one if none)."""
        return _cadence.retry_delay(
            self._policy,
            entry.status,
            errors=entry.errors,
            since=entry.since,
            now=self._clock(),
            time_scale=entry.lane.client.time_scale,
        )

    def _plan(self, entry: Entry, now: float) -> None:
        """Set the entry's next due time from what it needs now."""
        if entry.done:
            return
        if entry.notified or entry.fetch_messages:
            self._scheduler.set_due(entry, now)
            return
        delay = _cadence.routine_delay(
            self._policy,
            entry.status,
            errors=entry.errors,
            since=entry.since,
            now=now,
            time_scale=entry.lane.client.time_scale,
            hooked=entry.hooked,
        )
        if delay == INF:
            entry.due = INF
            return
        over = entry.errors - self._policy.max_consecutive_errors
        if over >= 0:  # a project holding a slot, polled on through failures: back off
            ceiling = max(delay, _BACKOFF_MAX * entry.lane.client.time_scale)
            delay = min(delay * 2.0 ** (over + 1), ceiling)
        self._scheduler.set_due(entry, now + delay)

    def _put_off(self, entry: Entry) -> bool:
        """Whether a due poll waits (the entry is re-planned): another poller has it."""
        lane = entry.lane
        if lane.share is not None and not self._owned(entry):
            return True
        if entry.project_id in lane.in_flight and not (entry.notified or entry.fetch_messages):
            # Another watcher of this client is polling it: its answer re-plans
            # this entry too; if it fails, poll a whole interval from now.
            self._scheduler.set_due(entry, self._clock() + self._interval_seconds(entry))
            return True
        return False

    def _owned(self, entry: Entry) -> bool:
        """Fleet mode: whether this process polls the entry now (else it is re-planned)."""
        assert entry.lane.share is not None
        owned = entry.lane.share.owns(entry.project_id)
        if owned:
            entry.deferred = False
            return True
        if owned is None:  # decided within a Redis round trip: ``_on_owned`` brings it back
            entry.deferred = True
            entry.due = INF
            return False
        # Another process polls it and shares what it sees; if that process dies,
        # this one takes the lease over and polls at the next due time.
        entry.notified = False
        entry.fetch_messages = False
        self._scheduler.set_due(entry, self._clock() + self._interval_seconds(entry))
        return False

    def _on_owned(self, project_id: str) -> None:
        """Fleet mode: this process now owns the project's lease; a deferred poll goes."""
        entry = self._entries.get(project_id)
        if entry is not None and entry.deferred and not entry.done:
            entry.deferred = False
            self._scheduler.set_due(entry, self._clock())

    # -- polling -------------------------------------------------------------------

    async def _poll(self, entry: Entry, ticket: Ticket) -> None:
        """One turn of an entry: fetch new messages if due, else GET the project."""
        priority = Priority.NOTIFY if entry.notified else Priority.POLL
        entry.notified = False
        try:
            if entry.fetch_messages:
                await self._fetch_messages(entry, ticket)
            else:
                self._polls += 1
                projects = entry.lane.client.projects
                await projects._get(entry.project_id, priority=priority, ticket=ticket)
            entry.errors = 0
        except VideoAgentError as exc:
            self._poll_failed(entry, exc)
        except Exception as exc:  # a bug must not end the other projects' watches
            logger.exception("polling %s raised", entry.project_id)
            self._poll_failed(entry, VideoAgentError(f"polling {entry.project_id} raised {exc!r}"))

    def _polled(self, entry: Entry) -> None:
        """A turn ended (its ticket is back): plan the next one."""
        if entry.notified and entry.hint is not None and entry.hint is entry.status:
            entry.notified = False  # this poll already showed what the webhook announced
        self._plan(entry, self._clock())
        self._settle(entry)

    async def _fetch_messages(self, entry: Entry, ticket: Ticket | None) -> None:
        """New messages since the cursor, as ``AgentMessage`` events."""
        projects = entry.lane.client.projects
        while True:
            self._message_fetches += 1
            page = await projects._messages_page(
                entry.project_id,
                after=entry.cursor,
                limit=100,
                priority=Priority.POLL,
                ticket=ticket,
            )
            ticket = None
            for message in page.data:
                entry.cursor = message.id
                if message.role != "user":
                    self._emit(entry, AgentMessage(entry.project_id, message))
            if not page.has_more or not page.data:
                break
        entry.fetch_messages = False

    def _poll_failed(self, entry: Entry, error: VideoAgentError) -> None:
        """A failed poll: after ``max_consecutive_errors`` in a row (or a fatal error) the
        watch ends. A project holding a slot is still polled (backing off) until a fatal
        error, which frees its slot: only its end frees the slot otherwise."""
        entry.errors += 1
        entry.fetch_messages = False  # retried at the next state change
        fatal = isinstance(error, _FATAL)
        ended = fatal or entry.errors >= self._policy.max_consecutive_errors
        tracking = entry.tracked and not fatal
        first = fatal or entry.errors == self._policy.max_consecutive_errors
        if not ended:
            note = ""
        elif tracking:
            note = ", watch ended; polled on (backing off) while it holds a slot"
        else:
            note = ", watch ended"
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "polling %s failed (%d in a row%s): %s",
            entry.project_id,
            entry.errors,
            note,
            error,
        )
        if not ended:
            return
        if first or entry.watched:  # (re-watched since the watch ended: it ends again)
            self._emit(entry, WatchFailed(entry.project_id, error))
        self._release_waiters(entry, error)
        entry.watched = False
        entry.callbacks = None
        if tracking:
            return
        if entry.tracked:  # gone, or not ours: it holds no slot any more
            entry.lane.client._transport.slots.observe(entry.project_id, active=False)
        self._drop(entry)

    # -- what the client sees ------------------------------------------------------

    def _observe(self, project: Project) -> None:
        """Transport listener: every Project the client parses."""
        entry = self._entries.get(project.id)
        if entry is not None and not entry.done:
            self._apply(entry, project)

    def _apply(self, entry: Entry, project: Project) -> None:
        now = self._clock()
        previous = entry.status
        entry.status = project.status
        entry.project = project if project.status.is_terminal else None
        if project.status is not previous:
            entry.since = now
            self._emit(entry, StatusChanged(project, previous))
            if _is_decision_point(project):
                self._emit(entry, DecisionPoint(project))
            if project.status.is_terminal and self._wants_messages(entry):
                entry.fetch_messages = True
        if entry.notified and entry.hint is not None and entry.hint is project.status:
            entry.notified = False  # a fresh answer showed what the webhook announced
        if entry.parked and not (entry.notified or entry.fetch_messages):
            entry.parked = False  # a fresh answer makes its due poll moot (lazily dropped)
        if not entry.polling and not entry.parked:
            self._plan(entry, now)
        self._settle(entry)

    def _on_credits(self, warning: CreditsWarning) -> None:
        if warning.balance != self._credits_balance:
            self._credits_balance = warning.balance
            self._publish(CreditsLow(warning), None)

    def _wants_messages(self, entry: Entry) -> bool:
        return self._policy.messages and bool(entry.callbacks or self._subscribers)

    # -- events --------------------------------------------------------------------

    def _emit(self, entry: Entry, event: WatchEvent) -> None:
        for callback in entry.callbacks or ():
            try:
                callback(event)
            except Exception:
                logger.exception("an on_event callback of %s raised", entry.project_id)
        self._publish(event, entry.project_id)

    def _publish(self, event: WatchEvent, project_id: str | None) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event, project_id)

    def _settle(self, entry: Entry) -> None:
        """A settled entry releases its waiters; one nobody needs is then forgotten."""
        if not entry.settled:
            return
        entry.tracked = False  # terminal: its slot is free
        self._release_waiters(entry)
        if not entry.needed:
            self._drop(entry)

    def _add(self, project_id: str, client: AsyncVideoAgent) -> Entry:
        """A new entry (no reason to keep it yet: the caller gives one)."""
        entry = Entry(project_id, self._lane(client), cursor=self._cursors.pop(project_id, None))
        self._entries[project_id] = entry
        if entry.lane.share is not None:
            entry.lane.share.want(project_id)
        return entry

    def _start(self, entry: Entry, project: str | Project) -> None:
        """A new entry's first plan: from a ``Project`` still current, else a poll now."""
        if isinstance(project, Project) and not entry.lane.client._transport.overtaken(project):
            self._apply(entry, project)
        else:
            self._plan(entry, self._clock())

    def _drop(self, entry: Entry) -> None:
        """Forget the entry (nobody needs it, or its watch ended); nothing more happens."""
        if self._entries.get(entry.project_id) is entry:
            del self._entries[entry.project_id]
            self._forget(entry)
            if entry.cursor is not None:
                self._cursors[entry.project_id] = entry.cursor
                if len(self._cursors) > _CURSORS_KEPT:
                    del self._cursors[next(iter(self._cursors))]
        entry.done = True
        entry.due = INF

    def _forget(self, entry: Entry) -> None:
        """The entry left ``_entries``: in fleet mode, give up its lease."""
        if entry.lane.share is not None:
            entry.lane.share.unwant(entry.project_id)

    def _release_waiters(self, entry: Entry, error: VideoAgentError | None = None) -> None:
        """Wake every ``wait`` of the entry: with ``error``, else with the settled project."""
        waiters, entry.waiters = entry.waiters, None
        for waiter in waiters or ():
            waiter.error = error
            waiter.project = entry.project
            waiter.event.set()

    # -- helpers -------------------------------------------------------------------

    def _lane(self, client: AsyncVideoAgent) -> Lane:
        lane = self._lanes.get(id(client._transport))
        if lane is None:
            fleet = client._transport.fleet
            share = fleet.watch if fleet else None
            lane = Lane(client, in_flight=in_flight(client._transport), share=share)
            self._lanes[id(client._transport)] = lane
            client._transport.project_listeners.append(self._observe)
            client._transport.credits_listeners.append(self._on_credits)
            if lane.share is not None:
                lane.share.add_watcher(self._on_owned, self._notify_local)
        return lane

    def _check_open(self) -> None:
        if self._task_group is None or self._closed:
            raise RuntimeError("use the ProjectWatcher inside `async with`")


def _is_decision_point(project: Project) -> bool:
    return (
        project.status is ProjectStatus.IDLE
        and not project.has_result
        and project.agent_message is not None
    )


def _discard(listeners: list[Callable[..., object]], listener: Callable[..., object]) -> None:
    if listener in listeners:
        listeners.remove(listener)
