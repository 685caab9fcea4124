"""The watcher's edges: errors as themselves, subscriptions that end, clients let go, bad ids."""

from __future__ import annotations

import gc
import weakref

import anyio
import pytest
from common_helpers import MALFORMED_IDS, Boom, first_step
from watch_helpers import SimFactory, client_for, create_elsewhere

from videoagent import (
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    ProjectWatcher,
    StatusChanged,
    VideoAgentError,
    WatchStoppedError,
)
from videoagent._tasks import BackgroundTasks

MISSING = "prj_doesnotexist0000"
#: Long phases: a project stays active for the whole test.
SLOW = {"queued": (600.0, 600.0)}


# -- exceptions pass through as themselves --------------------------------------------


async def test_an_error_of_the_users_block_comes_out_of_the_watcher_as_itself(
    make_simulator: SimFactory,
) -> None:
    """An exception raised in ``async with ProjectWatcher`` reaches ``except`` of its type."""
    async with make_simulator(durations=SLOW) as sim, client_for(sim) as client:
        (project_id,) = await create_elsewhere(sim, 1)

        async def block() -> None:
            async with ProjectWatcher(client) as watcher:
                watcher.watch(project_id)
                raise Boom

        with pytest.raises(Boom):
            await block()


async def test_sdk_errors_inside_the_watcher_are_caught_by_their_own_type(
    make_simulator: SimFactory,
) -> None:
    """A NotFoundError of a call, and of a wait, inside the watcher's block is caught by
    ``except NotFoundError`` (never an ExceptionGroup)."""
    async with make_simulator() as sim, client_for(sim) as client:
        for call in (lambda w: client.projects.get(MISSING), lambda w: w.wait(MISSING)):
            caught: list[NotFoundError] = []
            try:
                async with ProjectWatcher(client) as watcher:
                    await call(watcher)
            except NotFoundError as exc:
                caught.append(exc)
            assert [error.status for error in caught] == [404]


async def test_a_failed_task_of_ours_surfaces_once_as_our_error(
    make_simulator: SimFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A background task of the watcher that failed ends its block with one VideoAgentError
    naming the watcher; an error of the block itself still comes out as itself (ours logged).

    (Our tasks fail only by a bug, so the test starts a broken one in the watcher's tasks.)
    """

    async def broken() -> None:
        raise RuntimeError("a bug of ours")

    async with make_simulator() as sim, client_for(sim) as client:

        async def block(error: Exception | None) -> None:
            async with ProjectWatcher(client) as watcher:
                watcher._tasks.start_soon(broken, name="broken")
                if error is None:
                    await anyio.sleep_forever()  # cancelled by the failure
                await anyio.wait_all_tasks_blocked()
                raise error

        with pytest.raises(VideoAgentError, match="a ProjectWatcher failed: RuntimeError") as info:
            await block(None)
        assert type(info.value) is VideoAgentError
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(Boom):
            await block(Boom())
        logged = [r for r in caplog.records if "a background task of a ProjectWatcher" in r.message]
        assert len(logged) == 1
        assert logged[0].exc_info is not None
        assert isinstance(logged[0].exc_info[1], RuntimeError)


async def test_background_tasks_raise_ours_or_let_the_blocks_error_pass() -> None:
    """``BackgroundTasks``: a task's own SDK error comes out as itself, any other as a
    VideoAgentError; closed after the block raised, the block's error is left to pass."""

    async def fails(error: Exception) -> None:
        raise error

    tasks = BackgroundTasks("a test")
    await tasks.open()
    tasks.start_soon(lambda: fails(NotFoundError("gone", status=404)), name="one")
    with pytest.raises(NotFoundError):
        await tasks.aclose()
    tasks = BackgroundTasks("a test")
    await tasks.open()
    tasks.start_soon(lambda: fails(KeyError("x")), name="two")
    await anyio.wait_all_tasks_blocked()
    await tasks.aclose(passing=Boom())  # logged: the block's Boom goes on
    await tasks.aclose()  # closing again does nothing


# -- subscriptions and closing ---------------------------------------------------------


async def test_an_unsubscribed_events_reader_breaks_nothing_after_it(
    make_simulator: SimFactory,
) -> None:
    """After one ``events()`` reader is closed and another dropped unread, creates and
    waits of watched projects still work and a live reader still gets every status."""
    async with (
        make_simulator() as sim,
        client_for(sim) as client,
        ProjectWatcher(client) as watcher,
    ):
        closed = watcher.events()
        await closed.aclose()
        dropped = watcher.events()
        del dropped
        gc.collect()
        live = watcher.events()
        ids: set[str] = set()
        for brief in ("a teaser", "another"):
            project = await client.projects.create(brief)
            watcher.watch(project)
            ids.add(project.id)
            assert (await watcher.wait(project.id)).status.value == "idle"
        finished: set[str] = set()
        async for event in live:  # buffered: every status of both is there already
            if isinstance(event, StatusChanged) and event.project.status.value == "idle":
                finished.add(event.project.id)
            if finished == ids:
                break


async def stopped_wait(watcher: ProjectWatcher, project_id: str, into: list[Exception]) -> None:
    """``watcher.wait(project_id)``; the WatchStoppedError it ends with goes ``into``."""
    try:
        await watcher.wait(project_id)
    except WatchStoppedError as exc:
        into.append(exc)


async def test_a_users_watcher_lets_a_closed_client_go(make_simulator: SimFactory) -> None:
    """A ProjectWatcher that outlives its client: the client's waits raise WatchStoppedError,
    and once dropped the client is collected (the watcher keeps no reference)."""
    async with make_simulator(durations=SLOW) as sim:
        (project_id,) = await create_elsewhere(sim, 1)
        client = client_for(sim)
        gone = weakref.ref(client)
        errors: list[Exception] = []
        async with ProjectWatcher(client) as watcher:
            async with anyio.create_task_group() as group, client:  # the client ends first
                group.start_soon(stopped_wait, watcher, project_id, errors)
                await anyio.wait_all_tasks_blocked()
            del client
            gc.collect()
            assert gone() is None
            assert [type(e) for e in errors] == [WatchStoppedError]
            assert "the client closed" in str(errors[0])
            with pytest.raises(ConfigurationError, match="the watcher's client is closed"):
                await watcher.wait(project_id)  # a new wait: nothing to poll it with


async def test_a_watcher_lets_go_of_another_client_it_served(make_simulator: SimFactory) -> None:
    """A watcher that watched a project for a second client (``watch(..., client=)``) lets
    that client go when it closes: its wait stops, the client is collected, and the
    watcher's own client goes on."""
    async with make_simulator(durations=SLOW) as sim, client_for(sim) as own:
        other_key = sim.add_account()
        (theirs,) = await create_elsewhere(sim, 1, key=other_key)
        (ours,) = await create_elsewhere(sim, 1)
        other = client_for(sim, other_key)
        gone = weakref.ref(other)
        errors: list[Exception] = []
        async with ProjectWatcher(own) as watcher:
            watcher.watch(ours)
            async with anyio.create_task_group() as group, other:  # the client ends first
                watcher.watch(theirs, client=other)
                group.start_soon(stopped_wait, watcher, theirs, errors)
                await anyio.wait_all_tasks_blocked()
            del other
            gc.collect()
            assert gone() is None
            assert [type(e) for e in errors] == [WatchStoppedError]
            assert watcher.statistics().watched == 1
            with anyio.fail_after(5):
                polls = len([r for r in sim.request_log if r.path.endswith(ours)])
                while len([r for r in sim.request_log if r.path.endswith(ours)]) == polls:  # noqa: ASYNC110
                    await anyio.sleep(0.01)  # the own client's watch goes on polling


# -- bad ids are refused before anything is sent ----------------------------------------


async def test_a_malformed_id_is_refused_at_once_by_the_watcher(
    make_simulator: SimFactory,
) -> None:
    """``watch``, ``wait`` and ``notify`` raise InvalidRequestError for a malformed id at
    once (a wait before it ever suspends), and nothing is sent."""
    async with make_simulator() as sim, client_for(sim) as client:
        before = len(sim.request_log)
        async with ProjectWatcher(client) as own:
            for watcher in (own, client.watcher):
                for bad in MALFORMED_IDS:
                    with pytest.raises(InvalidRequestError, match="nothing was sent"):
                        watcher.watch(bad)
                    with pytest.raises(InvalidRequestError, match="nothing was sent"):
                        first_step(watcher.wait(bad))
                    with pytest.raises(InvalidRequestError, match="nothing was sent"):
                        watcher.notify(bad)
                assert watcher.statistics().watched == 0
        assert len(sim.request_log) == before
