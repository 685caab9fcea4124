"""Edges a user meets first: errors as themselves, bad text and ids unsent, odd keys and URLs.

Every case runs over real HTTP (the simulator, or a plain aiohttp server for
a base URL that is not the API); "unsent" is read from the simulator's
request log, "at once" from the call raising on its first step, before it
ever suspends.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp.web
import pytest
from common_helpers import MALFORMED_IDS, Boom, first_step
from odd_server import OddServer

from videoagent import (
    AsyncVideoAgent,
    ConfigurationError,
    CreditsWarning,
    InvalidRequestError,
    NotFoundError,
)
from videoagent.simulator import Simulator

GOOD_ID = "prj_abcdefgh12"
#: Lone surrogates: Python strings UTF-8 cannot encode (from os.fsdecode, bad JSON, ...).
SURROGATE = "caf\udce9"


def refusal(call: Coroutine[Any, Any, Any]) -> str | None:
    """None if ``call`` refuses at its first step, saying nothing was sent; else what it did."""
    try:
        first_step(call)
    except InvalidRequestError as exc:
        return None if "nothing was sent" in str(exc) else f"said {exc}"
    except BaseException as exc:  # any other outcome is reported
        return repr(exc)
    return "waited"


# -- exceptions pass through as themselves --------------------------------------------


async def test_an_error_of_the_users_block_comes_out_of_the_client_as_itself(
    simulator: Simulator,
) -> None:
    """An exception raised in ``async with AsyncVideoAgent`` reaches ``except`` of its type."""

    async def block() -> None:
        async with AsyncVideoAgent(
            simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
        ) as client:
            await client.projects.create("a teaser")
            raise Boom

    with pytest.raises(Boom):
        await block()


async def test_an_sdk_error_inside_the_client_is_caught_by_its_own_type(
    simulator: Simulator,
) -> None:
    """A NotFoundError of a wait inside the client's block is caught by ``except NotFoundError``."""
    caught: list[BaseException] = []
    try:
        async with AsyncVideoAgent(
            simulator.api_key, simulator.base_url, time_scale=simulator.time_scale
        ) as client:
            await client.projects.wait("prj_nosuchproject1")
    except NotFoundError as exc:
        caught.append(exc)
    assert len(caught) == 1
    assert caught[0].status == 404  # type: ignore[attr-defined]


# -- bad text and ids are refused before anything is sent -------------------------------

SURROGATE_CALLS: list[tuple[str, Callable[[AsyncVideoAgent], Coroutine[Any, Any, Any]]]] = [
    ("brief", lambda c: c.projects.create(SURROGATE)),
    ("idempotency_key", lambda c: c.projects.create("ok", idempotency_key=SURROGATE)),
    ("content", lambda c: c.projects.send_message(GOOD_ID, SURROGATE)),
    ("a metadata key", lambda c: c.projects.create("ok", metadata={SURROGATE: "v"})),
    ("metadata['k']", lambda c: c.projects.create("ok", metadata={"k": SURROGATE})),
    ("name", lambda c: c.api_keys.create(SURROGATE)),
    ("brief", lambda c: c.projects.with_raw_response.create(SURROGATE)),
    (
        "webhook_url",
        lambda c: c.projects.create("ok", webhook_url=f"http://127.0.0.1:9/{SURROGATE}"),
    ),
    (
        "webhook_url",
        lambda c: c.projects.update_settings(
            GOOD_ID, webhook_url=f"http://127.0.0.1:9/{SURROGATE}"
        ),
    ),
    ("the request body", lambda c: c.projects.create("ok", extra_body={"note": SURROGATE})),
]


@pytest.mark.parametrize(("field", "call"), SURROGATE_CALLS)
async def test_text_utf8_cannot_encode_is_refused_naming_the_field(
    simulator: Simulator,
    client: AsyncVideoAgent,
    field: str,
    call: Callable[[AsyncVideoAgent], Coroutine[Any, Any, Any]],
) -> None:
    """A lone surrogate in a brief, message, key, name, metadata, webhook URL (or an extra
    body field) is an InvalidRequestError naming where it is, and nothing is sent."""
    with pytest.raises(InvalidRequestError) as info:
        await call(client)
    assert str(info.value).startswith(field)
    assert "UTF-8" in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert simulator.request_log == []


ID_CALLS: list[tuple[str, Callable[[AsyncVideoAgent, str], Coroutine[Any, Any, Any]]]] = [
    ("get", lambda c, i: c.projects.get(i)),
    ("poll", lambda c, i: c.projects.poll(i)),
    ("result", lambda c, i: c.projects.result(i)),
    ("send_message", lambda c, i: c.projects.send_message(i, "warmer")),
    ("update_settings", lambda c, i: c.projects.update_settings(i, mode="collaborative")),
    ("cancel", lambda c, i: c.projects.cancel(i)),
    ("render", lambda c, i: c.projects.render(i)),
    ("wait", lambda c, i: c.projects.wait(i)),
    ("download", lambda c, i: c.projects.download(i, "out.mp4")),
    ("messages", lambda c, i: c.projects.messages(i).__anext__()),
    ("raw get", lambda c, i: c.projects.with_raw_response.get(i)),
    ("raw cancel", lambda c, i: c.projects.with_raw_response.cancel(i)),
    ("watcher wait", lambda c, i: c.watcher.wait(i)),
    ("revoke", lambda c, i: c.api_keys.revoke(i.replace("prj_", "key_"))),
]


async def test_a_malformed_id_is_refused_at_once_by_every_entry_point(
    simulator: Simulator, client: AsyncVideoAgent
) -> None:
    """Every call taking an id raises InvalidRequestError for a malformed one on its first
    step (no request, no wait), the raw forms and the client's watcher included."""
    not_refused = [
        f"{entry}({bad!r}): {outcome}"
        for entry, call in ID_CALLS
        for bad in MALFORMED_IDS
        if (outcome := refusal(call(client, bad))) is not None
    ]
    assert not_refused == []
    assert simulator.request_log == []


# -- the API key -------------------------------------------------------------------------


async def test_a_key_with_surrounding_whitespace_is_stripped(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pasted key with a newline or spaces around it works, as an argument or from the
    environment."""
    for before, after in [("", "\n"), (" ", " \r\n"), ("\t", "")]:
        pasted = before + simulator.api_key + after
        async with AsyncVideoAgent(
            pasted, simulator.base_url, time_scale=simulator.time_scale
        ) as client:
            assert (await client.account.get()).credits > 0
        monkeypatch.setenv("VIDEOAGENT_API_KEY", pasted)
        async with AsyncVideoAgent(
            base_url=simulator.base_url, time_scale=simulator.time_scale
        ) as client:
            assert (await client.account.get()).credits > 0
    assert [record.status for record in simulator.request_log] == [200] * 6


@pytest.mark.parametrize("inside", ["\n", " ", "\r\nX-Evil: 1\r\n", "\x7f", "\u2028"])
async def test_a_key_with_whitespace_inside_is_a_configuration_error_that_hides_it(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    """A key broken by a newline, a space or a control character inside is refused before
    anything is sent, and the error shows no part of it."""
    key = simulator.api_key
    broken = key[:20] + inside + key[20:]
    monkeypatch.setenv("VIDEOAGENT_API_KEY", broken)
    for make in (
        lambda: AsyncVideoAgent(broken, simulator.base_url),
        lambda: AsyncVideoAgent(base_url=simulator.base_url),
    ):
        with pytest.raises(ConfigurationError) as info:
            make()
        shown = f"{info.value} {info.value!r}"
        assert key[:20] not in shown
        assert key[20:] not in shown
        assert "whitespace or control characters" in str(info.value)
    assert simulator.request_log == []


# -- a base URL that is not the API --------------------------------------------------------


async def test_a_base_url_without_v1_is_named_in_the_error(simulator: Simulator) -> None:
    """The simulator's root without ``/v1`` answers 404: the error says the base URL is
    likely wrong, and names it."""
    root = simulator.base_url.removesuffix("/v1")
    async with AsyncVideoAgent(
        simulator.api_key, root, time_scale=simulator.time_scale, max_retries=0
    ) as client:
        with pytest.raises(NotFoundError) as info:
            await client.projects.get(GOOD_ID)
    assert root in str(info.value)
    assert "base URL" in str(info.value)
    assert "/v1" in str(info.value)


async def test_another_server_answering_404_html_is_named_in_the_error(
    odd_server: OddServer,
) -> None:
    """A web server that is not the API (404 HTML for everything) is said to be so, with
    its URL, for reads and creates alike."""

    async def not_here(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            status=404,
            text="<html><body><h1>Not Found</h1></body></html>",
            content_type="text/html",
        )

    odd_server.route("*", "/{tail:.*}", not_here)
    base_url = await odd_server.start()
    async with AsyncVideoAgent(
        "es_live_" + "k" * 32, base_url, time_scale=0.001, max_retries=0
    ) as client:
        for call in (
            client.account.get(),
            client.projects.get(GOOD_ID),
            client.projects.create("a teaser"),
        ):
            with pytest.raises(NotFoundError) as info:
                await call
            message = str(info.value)
            assert base_url in message
            assert "without the API's error body" in message
            assert "base URL" in message


# -- a callback of the user's that raises loses nothing --------------------------------------


async def test_an_on_credits_warning_that_raises_loses_no_project(
    simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A user's ``on_credits_warning`` that raises is logged: the create it rode on returns
    its project (which holds its slot), and later calls work."""
    key = simulator.add_account(credits=120)  # below 100 after one create: every answer warns
    seen: list[int] = []

    def broken(warning: CreditsWarning) -> None:
        seen.append(warning.balance)
        raise RuntimeError("a bug in the user's callback")

    async with AsyncVideoAgent(
        key, simulator.base_url, time_scale=simulator.time_scale, on_credits_warning=broken
    ) as client:
        project = await client.projects.create("a teaser")
        assert client.statistics().slots.held == 1
        assert (await client.account.get()).credits == 70
        assert client.statistics().slots.placeholders == 0
    assert [p.id for p in simulator.projects(key)] == [project.id]
    assert seen == [70, 70]
    raised = [r for r in caplog.records if "on_credits_warning callback raised" in r.message]
    assert len(raised) == 2
