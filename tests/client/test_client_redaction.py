"""The API key never shows: not in logs, reprs, exceptions or tracebacks."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest

from videoagent import (
    APIError,
    AsyncVideoAgent,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
)
from videoagent._wiring import wiring_of
from videoagent.simulator import Simulator


def texts_of(error: BaseException) -> list[str]:
    """Every way an error is usually shown: str, repr, a formatted traceback."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_key_never_in_logs_reprs_or_errors(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Working and failing calls at DEBUG leave no trace of either key anywhere."""
    caplog.set_level(logging.DEBUG)
    good = simulator.api_key
    wrong = "es_live_" + "Q" * 28 + "nope"
    shown: list[str] = []
    async with AsyncVideoAgent(good, simulator.base_url, time_scale=simulator.time_scale) as c:
        shown += [
            repr(c),
            str(c),
            repr(wiring_of(c).caller.transport),
            repr(c.with_options(timeout=5.0)),
        ]
        project = await c.projects.create("redaction")
        shown.append(repr(project))
        with pytest.raises(NotFoundError) as missing:
            await c.projects.get("prj_doesnotexist00")
        shown += texts_of(missing.value)
        created = await c.api_keys.create("second")
        shown.append(repr(created))
    async with AsyncVideoAgent(wrong, simulator.base_url, time_scale=simulator.time_scale) as w:
        with pytest.raises(AuthenticationError) as denied:
            await w.account.get()
        shown += [repr(w), *texts_of(denied.value)]
    shown += [record.getMessage() for record in caplog.records]
    shown += [repr(record.args) for record in caplog.records]
    assert any("GET /projects/prj_doesnotexist00 -> 404" in text for text in shown)
    for secret in (good, wrong, created.key):
        assert not [text for text in shown if secret in text]
    assert f"es_live_…{good[-4:]}" in repr(c)


async def test_transport_errors_hold_no_key(caplog: pytest.LogCaptureFixture) -> None:
    """A connection failure's message, cause chain and log lines hold no key."""
    caplog.set_level(logging.DEBUG)
    key = "es_live_" + "R" * 28 + "conn"
    async with AsyncVideoAgent(key, "http://127.0.0.1:9/v1", time_scale=0.001) as client:
        with pytest.raises(APIError) as info:
            await client.account.get()
    error: BaseException | None = info.value
    while error is not None:
        assert all(key not in text for text in texts_of(error))
        error = error.__cause__
    assert all(key not in record.getMessage() for record in caplog.records)


def test_the_key_is_not_picklable_and_config_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing key names VIDEOAGENT_API_KEY; the transport refuses to pickle its key."""
    monkeypatch.delenv("VIDEOAGENT_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_API_KEY"):
        AsyncVideoAgent(base_url="http://127.0.0.1:9/v1")
    client = AsyncVideoAgent("es_live_" + "S" * 32, "http://127.0.0.1:9/v1")
    with pytest.raises(TypeError):
        pickle.dumps(wiring_of(client).caller.transport._key)
