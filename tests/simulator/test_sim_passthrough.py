"""``async with Simulator`` lets errors through as themselves; its own failures surface once."""

from __future__ import annotations

import anyio
import pytest
from common_helpers import Boom

from videoagent import AsyncVideoAgent, Limits, NotFoundError
from videoagent.simulator import Simulator

SCALE = 0.01


async def test_errors_inside_the_simulator_come_out_as_themselves() -> None:
    """The user's error, and a NotFoundError of an SDK call, leave ``async with Simulator``
    as themselves."""

    async def block() -> None:
        async with Simulator(time_scale=SCALE, seed=7):
            raise Boom

    async def not_found() -> None:
        async with (
            Simulator(time_scale=SCALE, seed=7) as sim,
            AsyncVideoAgent(sim.api_key, sim.base_url, time_scale=SCALE) as client,
        ):
            await client.projects.get("prj_doesnotexist0000")

    with pytest.raises(Boom):
        await block()
    with pytest.raises(NotFoundError):
        await not_found()


async def _break_the_webhook_scheduler(sim: Simulator) -> None:
    """Make the simulator's webhook scheduler task die (as a bug would), and wait till it has."""
    died = anyio.Event()

    def explode(*_: object) -> None:
        died.set()
        raise RuntimeError("a bug of the simulator")

    sim._sim.webhooks._advance = explode  # the one way in: our tasks fail only by a bug
    async with AsyncVideoAgent(
        sim.api_key, sim.base_url, time_scale=SCALE, limits=Limits.unlimited()
    ) as client:
        await client.projects.create("hooked", webhook_url="http://127.0.0.1:9/hook")
    sim.advance(3_600)  # the scheduler wakes and advances the project: it dies
    await died.wait()


async def test_a_dead_task_of_the_simulator_never_replaces_the_blocks_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a background task of the simulator died, an error of the block still comes out
    as itself (the failure is logged); on a clean exit the failure raises once, named."""

    async def block(error: Exception | None) -> None:
        async with Simulator(time_scale=SCALE, seed=7) as sim:
            await _break_the_webhook_scheduler(sim)
            if error is not None:
                raise error

    with pytest.raises(Boom):
        await block(Boom())
    assert any("closing the simulator failed" in r.message for r in caplog.records)
    with pytest.raises(RuntimeError, match="a background task of the simulator failed") as info:
        await block(None)
    assert str(info.value.__cause__) == "a bug of the simulator"
