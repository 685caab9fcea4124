"""``ProjectFeed``: one watcher's events fanned out to many readers, with each project's state.

Two hundred browsers following one project cost what one costs: the feed
reads the watcher once (one ``events()`` subscription, plus every ``Project``
the client parses anyway, for progress between status changes) and copies
each event into every reader's small buffer. A reader that falls a whole
buffer behind is dropped (its stream ends; an ``EventSource`` reconnects and
starts again from the snapshot) so it never slows the others nor grows
memory. Memory stays bounded in a long-running app too: the feed remembers
(state and messages) at most ``keep`` projects more than readers follow,
forgetting the least recently updated one that no reader follows. Nothing
here makes a request but ``follow`` of a project the feed does not know yet
(one ``GET``, however many readers ask at once).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from videoagent._errors import ConfigurationError, VideoAgentError
from videoagent._events import AgentMessage, DecisionPoint, StatusChanged, WatchFailed
from videoagent._models import Message, Project
from videoagent._wiring import wiring_of

if TYPE_CHECKING:
    from videoagent._client import AsyncVideoAgent
    from videoagent._events import WatchEvent
    from videoagent._watcher import ProjectWatcher

__all__ = ["FeedEvent", "ProjectFeed", "message_data", "project_data", "sse_format"]

logger = logging.getLogger("videoagent.integrations")

FeedKind = Literal["project", "decision", "message", "failed"]


@attrs.frozen
class FeedEvent:
    """One thing a reader of a project learns, as JSON-ready data.

    ``kind`` is ``project`` (its state: status, progress, agent message,
    result), ``decision`` (a collaborative decision point: ``question``),
    ``message`` (a new message of the conversation) or ``failed`` (its watch
    ended: ``error``).
    """

    kind: FeedKind
    project_id: str
    data: Mapping[str, Any]


def project_data(project: Project) -> dict[str, Any]:
    """The JSON a reader gets for a project's state (no request id, no raw body)."""
    return {
        "id": project.id,
        "status": project.raw_status,
        "mode": project.mode,
        "brief": project.brief,
        "progress": project.progress,
        "agent_message": project.agent_message,
        "error_message": project.error_message,
        "has_result": project.has_result,
        "decision": project.at_decision_point,
        "updated_at": project.updated_at.isoformat(),
    }


def message_data(message: Message) -> dict[str, Any]:
    """The JSON a reader gets for a message."""
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def sse_format(event: FeedEvent) -> bytes:
    """``event: <kind>`` and ``data: <json>``: one Server-Sent Events frame."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event.kind}\ndata: {data}\n\n".encode()


class ProjectFeed:
    """Fans a watcher's events out to any number of readers per project.

    Example::

        feed = ProjectFeed(watcher, client=client)
        async with feed.running():
            await feed.follow(project_id)       # (a project the app did not create)
            async with feed.subscribe(project_id) as events:
                async for event in events:      # FeedEvent: the snapshot first, then live
                    ...

    Args:
        watcher: the watcher whose events are fanned out (watch the projects
            with it; the feed never watches anything itself).
        client: when given, every ``Project`` this client parses (each poll,
            each ``get``) refreshes the snapshot, so progress moves between
            status changes at no extra request; and ``follow`` fetches
            projects the feed does not know with it.
        buffer: events a reader may fall behind before it is dropped.
        history: messages remembered per project, replayed to new readers.
        keep: projects remembered beyond the number readers follow. Past
            it the project updated (or messaged) least recently that no
            reader follows is forgotten: ``get`` answers None, ``projects()``
            leaves it out, and a new reader's snapshot of it is empty until
            its next update.
    """

    def __init__(
        self,
        watcher: ProjectWatcher,
        *,
        client: AsyncVideoAgent | None = None,
        buffer: int = 64,
        history: int = 50,
        keep: int = 1000,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        self._watcher = watcher
        self._client = client
        self._buffer = buffer
        self._history = history
        self._keep = keep
        self._projects: dict[str, Project] = {}
        self._shown: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, deque[Message]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # remembered, least recent first
        self._readers: dict[str, set[MemoryObjectSendStream[FeedEvent]]] = {}
        self._fetching: dict[str, anyio.Event] = {}  # project id -> its GET is under way
        self._running = False
        self._unsubscribe: Callable[[], None] = lambda: None
        self._closed = False
        self.dropped = 0
        """Readers dropped for falling a whole buffer behind."""

    def __repr__(self) -> str:
        return f"<ProjectFeed projects={len(self._projects)} readers={self.reader_count}>"

    @property
    def reader_count(self) -> int:
        """Readers subscribed right now, over all projects."""
        return sum(len(readers) for readers in self._readers.values())

    # -- running -----------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Read the watcher until cancelled (start it with ``task_group.start``)."""
        events = self._open()
        task_status.started()
        await self._pump(events)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncGenerator[ProjectFeed, None]:
        """Run the feed while the block runs (instead of a task group of your own).

        An exception of the block comes out as itself, never inside an
        exception group. If the feed itself fails, the block is cancelled and
        the failure comes out as a :class:`~videoagent.VideoAgentError`.
        """
        events = self._open()
        failure: list[Exception] = []
        raised: BaseException | None = None

        async def pump() -> None:
            try:
                await self._pump(events)
            except Exception as exc:  # (cancellation passes)
                failure.append(exc)
                tasks.cancel_scope.cancel()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(pump)
            try:
                yield self
            except BaseException as exc:  # raised below, outside the task group
                raised = exc
            finally:
                tasks.cancel_scope.cancel()
        if failure and (raised is None or isinstance(raised, anyio.get_cancelled_exc_class())):
            raise VideoAgentError(f"the project feed failed: {failure[0]!r}") from failure[0]
        if raised is not None:
            raise raised

    def _open(self) -> AsyncIterator[WatchEvent]:
        """Subscribe to the watcher (and the client's projects): the start of a run."""
        if self._running or self._closed:
            raise RuntimeError("a ProjectFeed runs once")
        events = self._watcher.events()
        self._running = True
        if self._client is not None:
            projects = wiring_of(self._client).ledger.projects
            projects.subscribe(self.update)
            self._unsubscribe = lambda: projects.unsubscribe(self.update)
        return events

    async def _pump(self, events: AsyncIterator[WatchEvent]) -> None:
        """Relay the watcher's events until they end or the run is cancelled; then close."""
        try:
            async for event in events:
                self._on_event(event)
        finally:
            self._closed = True
            self._unsubscribe()
            aclose = getattr(events, "aclose", None)  # unsubscribe now, not when collected
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            for readers in self._readers.values():
                for send in readers:
                    send.close()
            self._readers.clear()

    def _on_event(self, event: WatchEvent) -> None:
        if isinstance(event, StatusChanged):
            self.update(event.project)
        elif isinstance(event, DecisionPoint):
            self.update(event.project)
            self._publish(FeedEvent("decision", event.project_id, _decision(event.project)))
        elif isinstance(event, AgentMessage):
            self.record(event.message)
        elif isinstance(event, WatchFailed):
            data = {"project_id": event.project_id, "error": str(event.error)}
            self._publish(FeedEvent("failed", event.project_id, data))
        # (CreditsLow, the last kind, is account-wide: readers follow projects)

    # -- what the app tells the feed ---------------------------------------------

    def update(self, project: Project) -> None:
        """A fresh state of ``project`` (after a create or a reply, say); readers see changes."""
        self._projects[project.id] = project
        self._touch(project.id)
        data = project_data(project)
        if self._shown.get(project.id) == data:
            return
        self._shown[project.id] = data
        self._publish(FeedEvent("project", project.id, data))

    def record(self, message: Message) -> None:
        """A message of a project's conversation (the user's own, say); readers see it once."""
        kept = self._messages.setdefault(message.project_id, deque(maxlen=self._history))
        self._touch(message.project_id)
        if any(m.id == message.id for m in kept):
            return
        kept.append(message)
        self._publish(FeedEvent("message", message.project_id, message_data(message)))

    def _touch(self, project_id: str) -> None:
        """``project_id`` was just updated: forget least recent unfollowed ones past ``keep``."""
        recent = self._recent
        recent[project_id] = None
        recent.move_to_end(project_id)
        followed = self._readers
        while len(recent) > self._keep + len(followed):
            oldest = next((p for p in recent if p not in followed and p != project_id), None)
            if oldest is None:
                return
            del recent[oldest]
            self._projects.pop(oldest, None)
            self._shown.pop(oldest, None)
            self._messages.pop(oldest, None)

    async def follow(self, project_id: str) -> Project:
        """Follow a project (one the app did not create, say): its state, and the watcher on it.

        A project the feed knows is watched from its known state, at no
        request. Otherwise one ``GET`` (shared by everyone asking at once)
        fetches it first, so readers get its snapshot, then its changes.
        Raises what the ``GET`` raises: ``NotFoundError`` for an unknown
        project, ``InvalidRequestError`` (nothing sent) for an id that does
        not look like ``prj_...``. The watch goes on after the readers leave.
        """
        project = self._projects.get(project_id)
        if project is None:
            project = await self._fetch(project_id)
        self._watcher.watch(project)
        return project

    async def _fetch(self, project_id: str) -> Project:
        """The project, from one ``GET`` however many ask for it at once."""
        while (asked := self._fetching.get(project_id)) is not None:
            await asked.wait()
            known = self._projects.get(project_id)
            if known is not None:
                return known
        if self._client is None:
            raise ConfigurationError(
                f"the feed does not know {project_id}: to fetch it, "
                "create the feed with its client (ProjectFeed(watcher, client=client))"
            )
        done = self._fetching[project_id] = anyio.Event()
        try:
            project = await self._client.projects.get(project_id)
        finally:
            del self._fetching[project_id]
            done.set()
        self.update(project)
        return project

    # -- what readers see --------------------------------------------------------

    def get(self, project_id: str) -> Project | None:
        """The latest state seen of a project, or None."""
        return self._projects.get(project_id)

    def projects(self) -> list[Project]:
        """Every project seen, newest first."""
        return sorted(self._projects.values(), key=lambda p: (p.created_at, p.id), reverse=True)

    def messages(self, project_id: str) -> tuple[Message, ...]:
        """The project's remembered messages, oldest first."""
        return tuple(self._messages.get(project_id, ()))

    @contextlib.asynccontextmanager
    async def subscribe(self, project_id: str) -> AsyncGenerator[AsyncIterator[FeedEvent], None]:
        """A project's events: first its snapshot (state, messages, an open decision), then live.

        The iterator ends when the feed stops, or when this reader fell
        ``buffer`` events behind.
        """
        initial = self._snapshot(project_id)
        send: MemoryObjectSendStream[FeedEvent]
        receive: MemoryObjectReceiveStream[FeedEvent]
        send, receive = anyio.create_memory_object_stream[FeedEvent](self._buffer + len(initial))
        for event in initial:
            send.send_nowait(event)
        readers = self._readers.setdefault(project_id, set())
        if self._closed:
            send.close()
        else:
            readers.add(send)
        try:
            with receive:
                yield receive
        finally:
            readers.discard(send)
            if not readers and self._readers.get(project_id) is readers:
                del self._readers[project_id]
            send.close()

    def _snapshot(self, project_id: str) -> list[FeedEvent]:
        events = [
            FeedEvent("message", project_id, message_data(m)) for m in self.messages(project_id)
        ]
        project = self._projects.get(project_id)
        if project is not None:
            events.insert(0, FeedEvent("project", project_id, project_data(project)))
            if project.at_decision_point:
                events.append(FeedEvent("decision", project_id, _decision(project)))
        return events

    def _publish(self, event: FeedEvent) -> None:
        readers = self._readers.get(event.project_id)
        if not readers:
            return
        for send in list(readers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                self.dropped += 1
                logger.info("a reader of %s fell behind and was dropped", event.project_id)
                readers.discard(send)
                send.close()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                readers.discard(send)


def _decision(project: Project) -> dict[str, Any]:
    return {"project_id": project.id, "question": project.agent_message}
