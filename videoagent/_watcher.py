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
- A poll's answer updates its entry; every other ``Project`` the client
  parses (the user's own ``get`` or ``send_message``, another watcher's poll)
  reaches the entry through the client's ledger. A fresh answer moves the
  next poll later (which costs the heap nothing); a status change re-plans
  it at once and emits events (``_fanout``). (The ledger's first subscriber,
  the active-project slots, has already freed or taken the project's slot.)
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
- Fleet mode (a Redis ``limits_backend``): several processes may watch one
  project; each is polled by one of them (``_ownership``).
- The watcher holds no client: each lane holds the client's parts
  (``_wiring``), and a client that closes ends its lane (its waits raise
  ``WatchStoppedError``).

The cadence and fairness rules (intervals, ``BONUS``, ``HOOKED_STRETCH``) are
pure functions in ``_cadence``; ``Entry``, ``Lane`` and ``Waiter`` live in
``_watchstate``; the due-time heap, the lanes' parking and the poll workers
are ``_scheduler.PollScheduler``; events go out through ``_fanout``. This
module holds the watcher that uses them: what to poll and when, and what the
answers mean.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import AsyncIterator
from types import TracebackType

import anyio
import attrs

from . import _cadence
from ._activation import SlotTracking
from ._arguments import check_id
from ._cadence import INF
from ._config import PollPolicy
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    VideoAgentError,
    WaitTimeoutError,
    WatchStoppedError,
)
from ._events import (
    AgentMessage,
    Callback,
    DecisionPoint,
    OnUpdate,
    StatusChanged,
    WatchEvent,
    WatchFailed,
)
from ._fanout import Fanout
from ._ledger import ProjectLedger
from ._models import Project, ProjectStatus
from ._ownership import Ownership
from ._scheduler import PollScheduler
from ._seams import Priority, Ticket
from ._tasks import BackgroundTasks
from ._watchstate import Entry, Lane, Waiter
from ._wiring import Client, Wiring, wiring_of

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = ["ProjectWatcher", "SharedWatcher", "WatcherStatistics"]

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
_POLL = Priority.POLL


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

    ``client.projects.wait(id)`` uses the client's own shared watcher
    (``client.watcher``). All polls go through the client's request budget
    (routine polls leave ``Limits.reserve`` slots to other calls), so the
    watcher never causes a 429, however many projects it watches.

    Args:
        client: the ``AsyncVideoAgent`` whose projects are watched
            (``watch(client=...)`` adds projects of other clients, e.g. other
            accounts).
        policy: the polling intervals (default: the contract's).
    """

    def __init__(self, client: Client, *, policy: PollPolicy | None = None) -> None:
        self._wiring: Wiring | None = wiring_of(client)
        self._policy = policy or PollPolicy()
        self._clock = time.monotonic
        self._entries: dict[str, Entry] = {}
        self._cursors: dict[str, str] = {}  # project id -> newest message id, once forgotten
        self._lanes: dict[ProjectLedger, Lane] = {}
        self._ownerships: dict[ProjectLedger, Ownership] = {}
        self._fanout = Fanout()
        self._scheduler = PollScheduler(
            poll=self._poll,
            polled=self._polled,
            put_off=self._put_off,
            clock=self._clock,
            time_scale=client.time_scale,
        )
        self._tasks = BackgroundTasks("a ProjectWatcher")
        self._entered = False
        self._closed = False
        self._polls = 0
        self._message_fetches = 0

    def __repr__(self) -> str:
        return f"<ProjectWatcher watched={len(self._entries)} clients={len(self._lanes)}>"

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered or self._closed:
            raise RuntimeError("a ProjectWatcher can be entered once")
        self._entered = True
        assert self._wiring is not None
        await self._tasks.open()
        self._lane(self._wiring)
        await self._scheduler.start(self._tasks)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        try:
            await self._tasks.aclose(passing=exc)  # an error of the block goes on as itself
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._scheduler.close()
        for lane in list(self._lanes.values()):
            self._end_lane(lane, "the watcher closed before {} finished")
        self._fanout.close()

    def _end_lane(self, lane: Lane, reason: str) -> None:
        """Forget a lane: its subscriptions end, its waits raise ``WatchStoppedError``."""
        ledger = lane.wiring.ledger
        self._lanes.pop(ledger, None)
        ledger.projects.unsubscribe(self._observe)
        ledger.credits.unsubscribe(self._fanout.credits)
        ledger.closed.unsubscribe(self._ledger_closed)
        ownership = self._ownerships.pop(ledger, None)
        if ownership is not None:
            ownership.close()
        for entry in [e for e in self._entries.values() if e.lane is lane]:
            pid = entry.project_id
            stopped = WatchStoppedError(reason.format(pid), project_id=pid)
            self._release_waiters(entry, None if entry.settled else stopped)
            self._drop(entry)
        if self._wiring is lane.wiring:
            self._wiring = None

    def _ledger_closed(self, ledger: ProjectLedger) -> None:
        """A lane's client closed: let go of it (a later ``watch`` of it is refused)."""
        lane = self._lanes.get(ledger)
        if lane is not None:
            self._end_lane(lane, "the client closed before {} finished")

    # -- the public API ----------------------------------------------------------

    def watch(
        self,
        project: str | Project,
        *,
        on_event: Callback | None = None,
        client: Client | None = None,
    ) -> None:
        """Start watching a project (by id, or a ``Project`` you just got back).

        Given a ``Project``, its state is taken as fresh: the first poll waits
        the interval of its status. Given an id, the first poll is made as
        soon as the budget allows. Watching a watched project only adds the
        callback. ``on_event`` is called with each event of this project. A
        malformed id raises ``InvalidRequestError`` at once.
        """
        self._check_open()
        project_id = project if isinstance(project, str) else project.id
        check_id(project_id, "prj", "project")
        entry = self._entries.get(project_id)
        fresh = entry is None
        if entry is None:
            entry = self._add(project_id, self._lane_of(client))
        entry.watched = True
        if on_event is not None:  # before the first event, so that it sees it
            entry.callbacks = [*(entry.callbacks or ()), on_event]
        if fresh:
            self._start(entry, project)

    def _track(self, project: str | Project) -> None:
        """Keep polling a project that holds an active slot until it is seen to leave
        the active states (the client's shared watcher does this for every such
        project, so that slots free on time).

        Slot tracking is a reason of its own to keep an entry: a ``wait`` that
        ends, an ``unwatch`` or a run of failed polls does not end it.
        """
        if self._closed or not self._entered or self._wiring is None:
            return
        project_id = project if isinstance(project, str) else project.id
        entry = self._entries.get(project_id)
        if entry is None:
            entry = self._add(project_id, self._lane(self._wiring))
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
        A malformed id raises ``InvalidRequestError`` at once (nothing is relayed).
        """
        check_id(project_id, "prj", "project_id")
        hint = None if status is None else str(status)
        if self._wiring is not None:
            ownership = self._ownerships.get(self._wiring.ledger)
            if ownership is not None:
                ownership.relay(project_id, hint)
        self._notify_local(project_id, hint)

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

    async def wait(
        self,
        project_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the design's name; scaled
        on_update: OnUpdate | None = None,
    ) -> Project:
        """The project once it is idle, failed or cancelled.

        Watches it if it is not watched yet (and stops when this returns).
        ``timeout`` is a deadline in contract seconds for the whole wait;
        past it, ``WaitTimeoutError``, and the temporary watch ends.
        ``on_update(project)`` is called at each status change seen (a plain
        or an async function, run by this wait; an exception is logged). A
        malformed id raises ``InvalidRequestError`` at once.
        """
        check_id(project_id, "prj", "project_id")
        self._check_open()
        entry = self._entries.get(project_id)
        if entry is None:
            entry = self._add(project_id, self._lane_of(None))
            self._start(entry, project_id)
        if entry.settled:
            assert entry.project is not None
            return entry.project
        waiter = Waiter(updates=None if on_update is None else [])
        entry.waiters = [*(entry.waiters or ()), waiter]
        try:
            deadline = INF if timeout is None else timeout * entry.lane.time_scale
            with anyio.move_on_after(deadline):
                await self._woken(waiter, on_update)
            if not waiter.done:
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

    @staticmethod
    async def _woken(waiter: Waiter, on_update: OnUpdate | None) -> None:
        """Until the wait ends; each status change on the way goes to ``on_update``."""
        while True:
            await waiter.event.wait()
            waiter.event = anyio.Event()
            if on_update is not None:
                for project in waiter.take_updates():
                    await _call_update(on_update, project)
            if waiter.done:
                return

    def events(self, *project_ids: str) -> AsyncIterator[WatchEvent]:
        """Events from now on (of the given projects, or all), as an async iterator.

        Each call is its own subscription, buffered: a slow reader never
        slows the polling. It ends when the watcher closes; drop it (or
        ``aclose()`` it) to unsubscribe: that ends only this subscription.
        """
        self._check_open()
        return self._fanout.subscribe(project_ids)

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
            time_scale=entry.lane.time_scale,
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
            time_scale=entry.lane.time_scale,
            hooked=entry.hooked,
        )
        if delay == INF:
            entry.due = INF
            return
        over = entry.errors - self._policy.max_consecutive_errors
        if over >= 0:  # a project holding a slot, polled on through failures: back off
            ceiling = max(delay, _BACKOFF_MAX * entry.lane.time_scale)
            delay = min(delay * 2.0 ** (over + 1), ceiling)
        self._scheduler.set_due(entry, now + delay)

    def _later(self, entry: Entry) -> None:
        """Due a whole interval from now (another poller has it)."""
        self._scheduler.set_due(entry, self._clock() + self._interval_seconds(entry))

    def _put_off(self, entry: Entry) -> bool:
        """Whether a due poll waits (the entry is re-planned): another poller has it."""
        ownership = self._ownerships.get(entry.lane.wiring.ledger)
        owned = True if ownership is None else ownership.owns(entry.project_id)
        if owned is None:  # decided within a Redis round trip: ``_on_owned`` brings it back
            entry.deferred = True
            entry.due = INF
            return True
        entry.deferred = False
        if not owned:  # another process polls it and shares what it sees
            entry.notified = False
            entry.fetch_messages = False
            self._later(entry)
            return True
        in_flight = entry.lane.wiring.in_flight
        if entry.project_id in in_flight and not (entry.notified or entry.fetch_messages):
            # Another watcher of this client is polling it: its answer re-plans
            # this entry too; if it fails, poll a whole interval from now.
            self._later(entry)
            return True
        return False

    def _on_owned(self, project_id: str) -> None:
        """Fleet mode: this process now owns the project's lease; a deferred poll goes."""
        entry = self._entries.get(project_id)
        if entry is not None and entry.deferred and not entry.done:
            entry.deferred = False
            self._scheduler.set_due(entry, self._clock())

    # -- polling -------------------------------------------------------------------

    async def _poll(self, entry: Entry, ticket: Ticket) -> None:
        """One turn of an entry (its ticket goes to the call): new messages if due, else
        GET the project; the answer (or a newer one seen meanwhile) updates the entry."""
        entry.notified = False
        project: Project | None = None
        try:
            if entry.fetch_messages:
                await self._fetch_messages(entry, ticket)
            else:
                self._polls += 1
                project = await entry.lane.wiring.poller.get(entry.project_id, via=ticket)
            entry.errors = 0
        except VideoAgentError as exc:
            self._poll_failed(entry, exc)
        except Exception as exc:  # a bug must not end the other projects' watches
            logger.exception("polling %s raised", entry.project_id)
            self._poll_failed(entry, VideoAgentError(f"polling {entry.project_id} raised {exc!r}"))
        self._answered(entry, project)

    def _answered(self, entry: Entry, project: Project | None) -> None:
        """The poll's answer, or a newer one another call brought meanwhile (even when the
        poll failed), if still current."""
        latest, entry.latest = entry.latest, None
        if project is None or (latest is not None and latest.updated_at > project.updated_at):
            project = latest
        ledger = entry.lane.wiring.ledger
        if project is not None and not entry.done and not ledger.overtaken(project):
            self._apply(entry, project)

    def _polled(self, entry: Entry) -> None:
        """A turn ended (its ticket is back): plan the next one."""
        if entry.notified and entry.hint is not None and entry.hint is entry.status:
            entry.notified = False  # this poll already showed what the webhook announced
        self._plan(entry, self._clock())
        self._settle(entry)

    async def _fetch_messages(self, entry: Entry, ticket: Ticket | None) -> None:
        """New messages since the cursor, as ``AgentMessage`` events."""
        poller = entry.lane.wiring.poller
        while True:
            self._message_fetches += 1
            page = await poller.messages_page(
                entry.project_id, after=entry.cursor, limit=100, via=ticket or _POLL
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
            entry.lane.wiring.slots.observe(entry.project_id, active=False)
        self._drop(entry)

    # -- what the client sees ------------------------------------------------------

    def _observe(self, project: Project) -> None:
        """Ledger subscriber: every fresh Project the client parses."""
        entry = self._entries.get(project.id)
        if entry is None or entry.done:
            return
        if entry.polling:  # its own poll is in flight: the newer of the two applies then
            latest = entry.latest
            if latest is None or project.updated_at >= latest.updated_at:
                entry.latest = project
            return
        self._apply(entry, project)

    def _apply(self, entry: Entry, project: Project) -> None:
        now = self._clock()
        previous = entry.status
        entry.status = project.status
        entry.project = project if project.status.is_terminal else None
        if project.status is not previous:
            entry.since = now
            self._emit(entry, StatusChanged(project, previous))
            for waiter in entry.waiters or ():
                waiter.update(project)
            if project.at_decision_point:
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

    def _wants_messages(self, entry: Entry) -> bool:
        return self._policy.messages and bool(entry.callbacks or self._fanout)

    # -- entries -------------------------------------------------------------------

    def _emit(self, entry: Entry, event: WatchEvent) -> None:
        self._fanout.emit(event, entry.project_id, entry.callbacks or ())

    def _settle(self, entry: Entry) -> None:
        """A settled entry releases its waiters; one nobody needs is then forgotten."""
        if not entry.settled:
            return
        entry.tracked = False  # terminal: its slot is free
        self._release_waiters(entry)
        if not entry.needed:
            self._drop(entry)

    def _add(self, project_id: str, lane: Lane) -> Entry:
        """A new entry (no reason to keep it yet: the caller gives one)."""
        entry = Entry(project_id, lane, cursor=self._cursors.pop(project_id, None))
        self._entries[project_id] = entry
        ownership = self._ownerships.get(lane.wiring.ledger)
        if ownership is not None:
            ownership.want(project_id)
        return entry

    def _start(self, entry: Entry, project: str | Project) -> None:
        """A new entry's first plan: from a ``Project`` still current, else a poll now."""
        if isinstance(project, Project) and not entry.lane.wiring.ledger.overtaken(project):
            self._apply(entry, project)
        else:
            self._plan(entry, self._clock())

    def _drop(self, entry: Entry) -> None:
        """Forget the entry (nobody needs it, or its watch ended); nothing more happens."""
        if self._entries.get(entry.project_id) is entry:
            del self._entries[entry.project_id]
            ownership = self._ownerships.get(entry.lane.wiring.ledger)
            if ownership is not None:
                ownership.unwant(entry.project_id)
            if entry.cursor is not None:
                self._cursors[entry.project_id] = entry.cursor
                if len(self._cursors) > _CURSORS_KEPT:
                    del self._cursors[next(iter(self._cursors))]
        entry.done = True
        entry.due = INF

    def _release_waiters(self, entry: Entry, error: VideoAgentError | None = None) -> None:
        """Wake every ``wait`` of the entry: with ``error``, else with the settled project."""
        waiters, entry.waiters = entry.waiters, None
        for waiter in waiters or ():
            waiter.finish(entry.project, error)

    # -- lanes -----------------------------------------------------------------------

    def _lane_of(self, client: Client | None) -> Lane:
        """The lane of ``client`` (default: the watcher's own client)."""
        if client is not None:
            return self._lane(wiring_of(client))
        if self._wiring is None:
            raise ConfigurationError(
                "the watcher's client is closed: watch(project, client=...) with an open one"
            )
        return self._lane(self._wiring)

    def _lane(self, wiring: Wiring) -> Lane:
        lane = self._lanes.get(wiring.ledger)
        if lane is None:
            lane = Lane(wiring)
            self._lanes[wiring.ledger] = lane
            ledger = wiring.ledger
            ledger.projects.subscribe(self._observe)
            ledger.credits.subscribe(self._fanout.credits)
            ledger.closed.subscribe(self._ledger_closed)
            share = wiring.shared.watch
            if share is not None:
                self._ownerships[ledger] = Ownership(
                    share, on_owned=self._on_owned, on_notify=self._notify_local
                )
        return lane

    def _check_open(self) -> None:
        if not self._entered or self._closed:
            raise RuntimeError("use the ProjectWatcher inside `async with`")


class SharedWatcher(ProjectWatcher):
    """A client's own watcher: ``wait`` polls through it, and (given ``tracking``) it
    keeps polling every project that holds an active slot until it is seen to finish.
    Without ``tracking``, a job queue's poll steps see each project end instead."""

    def __init__(
        self, client: Client, *, policy: PollPolicy | None, tracking: SlotTracking | None
    ) -> None:
        super().__init__(client, policy=policy)
        self._tracking = tracking

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        if self._tracking is not None:
            self._tracking.serve(self._track)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tracking is not None:
            self._tracking.stop(self._track)
        await super().__aexit__(exc_type, exc, tb)


async def _call_update(on_update: OnUpdate, project: Project) -> None:
    """``on_update(project)``, awaited if it is async; an exception is logged, not raised."""
    try:
        outcome = on_update(project)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        logger.exception("an on_update callback raised for %s", project.id)
