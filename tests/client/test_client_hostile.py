"""Hostile or broken answers cannot hurt the caller: memory, time and slots stay bounded.

A loopback aiohttp server gives the answers: endless and oversized bodies, a
gzip bomb, cursors that repeat or cycle, absurd figures, ids that break our
rules. Memory is measured with ``tracemalloc`` (this process holds the
server too, so its peak bounds both sides).
"""

from __future__ import annotations

import gzip
import json
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp.web
import anyio
import pytest
from odd_server import OddServer

from videoagent import APIResponseError, AsyncVideoAgent, InvalidRequestError, Limits
from videoagent._transport import MAX_ANSWER_BYTES

OddClient = Callable[..., AsyncVideoAgent]

PROJECT_ID = "prj_abcdefgh12"
#: A body far beyond the cap; a broken client would read all of it.
HUGE = 256 * 1_048_576
#: The most a bounded read may allocate at once (both sides of the loopback included).
MEMORY_BOUND = 4 * MAX_ANSWER_BYTES
ACCOUNT = {"credits": 500, "plan": "free", "renders_today": 0, "projects_today": 0}
#: Pages a cycling server serves at most before it ends the list (a broken client's bound).
SAFETY_PAGES = 50


def project(project_id: str = PROJECT_ID, status: str = "queued") -> dict[str, Any]:
    """A project answer."""
    return {
        "id": project_id,
        "object": "project",
        "status": status,
        "mode": "autonomous",
        "brief": "b",
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": "2026-11-30T10:00:00Z",
    }


def message(message_id: str) -> dict[str, Any]:
    """A message answer."""
    return {
        "id": message_id,
        "object": "message",
        "project_id": PROJECT_ID,
        "role": "agent",
        "content": "hello",
        "created_at": "2026-11-30T10:00:00Z",
    }


def json_answer(body: object, status: int = 200) -> aiohttp.web.Response:
    """A JSON response."""
    return aiohttp.web.json_response(body, status=status)


@pytest.fixture
def peak_memory() -> Iterator[Callable[[], int]]:
    """Traces allocations for the test; gives the peak traced so far, in bytes."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- bodies: size caps ------------------------------------------------------------------------


async def test_an_endless_body_ends_in_our_error_with_memory_bounded(
    odd_server: OddServer, odd_client: OddClient, peak_memory: Callable[[], int]
) -> None:
    """A chunked answer that never ends is an APIResponseError once past the cap; it is
    never read into memory (the peak stays a few MiB while the server keeps sending)."""
    sent: list[int] = [0]

    async def endless(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * 65_536
        try:
            while sent[0] < HUGE:  # (a safety stop for a client that reads it all)
                await response.write(chunk)
                sent[0] += len(chunk)
        except (ConnectionError, aiohttp.ClientError):
            pass  # the client hung up: what it should do
        return response

    odd_server.route("GET", "/v1/account", endless)
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        with pytest.raises(APIResponseError, match=r"goes on past 4,194,304 bytes \(not read\)"):
            await client.account.get()
    assert peak_memory() < MEMORY_BOUND
    assert sent[0] < HUGE


async def test_an_announced_100_mib_body_is_refused_unread(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A Content-Length of 100 MiB is refused from the headers, without waiting for (or
    reading) the body, which never comes."""

    finished = anyio.Event()

    async def announced(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(
            headers={"Content-Type": "application/json", "Content-Length": str(100 * 1_048_576)}
        )
        await response.prepare(request)
        await finished.wait()  # the body never comes: a reader would time out
        return response

    odd_server.route("GET", "/v1/account", announced)
    # A reader of the body would wait out the timeout (30 real seconds) and raise
    # APITimeoutError instead.
    try:
        async with odd_client(await odd_server.start(), max_retries=0, timeout=30_000.0) as client:
            with pytest.raises(APIResponseError, match="announces 104,857,600 bytes"):
                await client.account.get()
    finally:
        finished.set()


async def test_a_gzip_bomb_ends_in_our_error_with_memory_bounded(
    odd_server: OddServer, odd_client: OddClient, peak_memory: Callable[[], int]
) -> None:
    """200 KiB of gzip that inflate to 200 MiB: the cap counts decompressed bytes, and no
    more than a few MiB are ever inflated."""
    bomb = gzip.compress(b"[" + b" " * (200 * 1_048_576) + b"]", 9)
    assert len(bomb) < 1_048_576

    async def inflating(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    odd_server.route("GET", "/v1/account", inflating)
    async with odd_client(await odd_server.start(), max_retries=0) as client:
        tracemalloc.reset_peak()
        with pytest.raises(APIResponseError, match="goes on past 4,194,304 bytes"):
            await client.account.get()
    assert peak_memory() < MEMORY_BOUND


# -- cursors that repeat or cycle --------------------------------------------------------------


def cycling(
    server: OddServer, path: str, make: Callable[[str], dict[str, Any]], ids: list[str]
) -> list[str | None]:
    """Serve ``path`` as pages of one item each, ``ids`` in a cycle (the last page leads back
    to the first), ending only after ``SAFETY_PAGES``; returns the cursors asked for."""
    asked: list[str | None] = []

    async def page(request: aiohttp.web.Request) -> aiohttp.web.Response:
        after = request.query.get("after")
        asked.append(after)
        position = 0 if after not in ids else (ids.index(after) + 1) % len(ids)
        return json_answer(
            {
                "object": "list",
                "data": [make(ids[position])],
                "has_more": len(asked) < SAFETY_PAGES,
            }
        )

    server.route("GET", path, page)
    return asked


CYCLES = {
    "a page that repeats its cursor": ["{p}_aaaaaaaaaaaa"],
    "a 3-page cycle": ["{p}_aaaaaaaaaaaa", "{p}_bbbbbbbbbbbb", "{p}_cccccccccccc"],
}


async def _all(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.mark.parametrize("cycle", CYCLES.values(), ids=CYCLES.keys())
async def test_a_cycling_cursor_ends_list_and_messages_in_our_error(
    odd_server: OddServer, odd_client: OddClient, cycle: list[str]
) -> None:
    """``list`` and ``messages`` raise APIResponseError at the first cursor seen twice,
    after one request per page of the cycle (and one more), never paging on."""
    projects = [i.format(p="prj") for i in cycle]
    messages = [i.format(p="msg") for i in cycle]
    listed = cycling(odd_server, "/v1/projects", project, projects)
    read = cycling(odd_server, f"/v1/projects/{PROJECT_ID}/messages", message, messages)
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(APIResponseError, match="the pages repeat"):
            await _all(client.projects.list())
        with pytest.raises(APIResponseError, match="the pages repeat"):
            await _all(client.projects.messages(PROJECT_ID))
    assert listed == [None, *projects]
    assert read == [None, *messages]


@pytest.mark.parametrize("cycle", CYCLES.values(), ids=CYCLES.keys())
async def test_a_cycling_cursor_stops_send_message_before_it_sends(
    odd_server: OddServer, odd_client: OddClient, cycle: list[str]
) -> None:
    """``send_message`` reads the newest message id first: a cycling cursor there is an
    APIResponseError, and the message is never sent (nor its slot kept)."""
    messages = [i.format(p="msg") for i in cycle]
    read = cycling(odd_server, f"/v1/projects/{PROJECT_ID}/messages", message, messages)
    posted: list[object] = []

    async def accept(request: aiohttp.web.Request) -> aiohttp.web.Response:
        posted.append(await request.json())
        return json_answer({"message": message("msg_new000000000"), "project": project()}, 202)

    odd_server.route("POST", f"/v1/projects/{PROJECT_ID}/messages", accept)
    async with odd_client(await odd_server.start(), limits=Limits()) as client:
        with pytest.raises(APIResponseError, match="the pages repeat"):
            await client.projects.send_message(PROJECT_ID, "make it warmer")
        slots = client.statistics().slots
    assert posted == []
    assert len(read) == len(cycle) + 1
    assert (slots.held, slots.pending, slots.placeholders) == (0, 0, 0)


# -- absurd figures ------------------------------------------------------------------------------


async def _account_with(server: OddServer, client_of: OddClient, figure: str) -> Any:
    """``client.account.get()`` answered with ``active_projects: <figure>``: the account
    (or the error), and the client's slots after it."""
    body = json.dumps(ACCOUNT)[:-1] + f', "active_projects": {figure}}}'

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text=body, content_type="application/json")

    server.route("GET", "/v1/account", account)
    async with client_of(await server.start(), limits=Limits(), max_retries=0) as client:
        try:
            outcome: Any = await client.account.get()
        except APIResponseError as exc:
            outcome = exc
        return outcome, client.statistics().slots


@pytest.fixture
def without_pythons_digit_guard() -> Iterator[None]:
    """Python's own limit on integer digits turned off, as an app may do."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.usefixtures("without_pythons_digit_guard")
async def test_a_huge_active_projects_figure_is_clamped(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """``active_projects: 10**4000`` takes no more slots than the limit allows (O(1), where
    one slot per unknown project would never end)."""
    account, slots = await _account_with(odd_server, odd_client, "1" + "0" * 4_000)
    assert account.active_projects == 10**4_000
    assert slots.foreign <= 5 + 1


@pytest.mark.parametrize("digits", [100_001, MAX_ANSWER_BYTES - 200], ids=["10**100000", "4 MiB"])
@pytest.mark.usefixtures("without_pythons_digit_guard")
async def test_a_figure_of_endless_digits_is_refused_unparsed(
    odd_server: OddServer, odd_client: OddClient, digits: int
) -> None:
    """An integer of 100,001 digits, or 4 MiB of them, is an APIResponseError naming its
    length: never converted (quadratic: minutes for 4 MiB), even with Python's own
    digit guard turned off."""
    error, slots = await _account_with(odd_server, odd_client, "1" * digits)
    assert isinstance(error, APIResponseError)
    assert f"an integer of {digits:,} digits" in str(error)
    assert slots.foreign == 0


# -- ids that break our rules ----------------------------------------------------------------


async def test_a_created_project_with_a_bad_id_is_our_error_and_holds_no_slot(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A create answered with the id ``../../x`` is an APIResponseError; no slot is held
    (the server's count frees the one the request might have taken) and nothing is sent
    to a path built from that id."""
    answers = iter(["../../x", "prj_goodgoodgood1"])

    async def create(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return json_answer(project(next(answers)), 202)

    async def account(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return json_answer({**ACCOUNT, "active_projects": 0})

    odd_server.route("POST", "/v1/projects", create)
    odd_server.route("GET", "/v1/account", account)
    async with odd_client(await odd_server.start(), limits=Limits()) as client:
        with pytest.raises(APIResponseError, match="not an id of the form prj_"):
            await client.projects.create("a teaser")
        slots = client.statistics().slots
        assert (slots.held, slots.pending, slots.placeholders) == (0, 0, 0)
        made = await client.projects.create("another")
        assert made.id == "prj_goodgoodgood1"
    assert {r.path for r in odd_server.requests} == {"/v1/projects", "/v1/account"}


@pytest.mark.parametrize(
    ("route", "body", "call"),
    [
        (
            f"/v1/projects/{PROJECT_ID}",
            project("prj_../x"),
            lambda c: c.projects.get(PROJECT_ID),
        ),
        (
            "/v1/projects",
            {"object": "list", "data": [project("/etc/passwd")], "has_more": False},
            lambda c: _all(c.projects.list()),
        ),
    ],
    ids=["get", "list"],
)
async def test_a_project_answered_with_a_bad_id_is_our_error(
    odd_server: OddServer,
    odd_client: OddClient,
    route: str,
    body: object,
    call: Callable[[AsyncVideoAgent], Any],
) -> None:
    """A read whose answer names a project id that breaks our rules is an APIResponseError."""

    async def answer(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return json_answer(body)

    odd_server.route("GET", route, answer)
    async with odd_client(await odd_server.start(), limits=Limits()) as client:
        with pytest.raises(APIResponseError, match="not an id of the form prj_"):
            await call(client)
        assert client.statistics().slots.held == 0


# -- endless fresh cursors, lax figures, bad extras ------------------------------------------


async def test_endless_fresh_cursors_stop_send_message_before_it_sends(
    odd_server: OddServer, odd_client: OddClient
) -> None:
    """A server handing out a new message cursor forever: ``send_message``'s look-up
    stops after a bounded number of pages, and nothing is sent."""
    asked: list[str | None] = []

    async def page(request: aiohttp.web.Request) -> aiohttp.web.Response:
        asked.append(request.query.get("after"))
        return json_answer(
            {"object": "list", "data": [message(f"msg_{len(asked):012d}")], "has_more": True}
        )

    posted: list[object] = []

    async def accept(request: aiohttp.web.Request) -> aiohttp.web.Response:
        posted.append(await request.json())
        return json_answer({"message": message("msg_new000000000"), "project": project()}, 202)

    odd_server.route("GET", f"/v1/projects/{PROJECT_ID}/messages", page)
    odd_server.route("POST", f"/v1/projects/{PROJECT_ID}/messages", accept)
    async with odd_client(await odd_server.start()) as client:
        with pytest.raises(APIResponseError, match="goes on past 1,000 pages"):
            await client.projects.send_message(PROJECT_ID, "make it warmer")
    assert posted == []
    assert len(asked) == 1_000


@pytest.mark.parametrize("figure", ['"5"', "true", "5.5"])
async def test_a_figure_that_is_no_integer_is_our_error(
    odd_server: OddServer, odd_client: OddClient, figure: str
) -> None:
    """``active_projects`` answered as a string, a bool or a fraction is refused, never
    read as 5 (or 1)."""
    outcome, _ = await _account_with(odd_server, odd_client, figure)
    assert isinstance(outcome, APIResponseError)
    assert "active_projects" in str(outcome)


BAD_EXTRAS: dict[str, dict[str, Any]] = {
    "a header with a line break": {"extra_headers": {"X-Trace": "a\r\nInjected: 1"}},
    "a header that is no text": {"extra_headers": {"X-Trace": 1}},
    "a query value UTF-8 cannot encode": {"extra_query": {"q": "\ud800"}},
    "a body field that is no JSON": {"extra_body": {"when": object()}},
}


@pytest.mark.parametrize("extras", BAD_EXTRAS.values(), ids=BAD_EXTRAS.keys())
async def test_bad_extras_are_refused_before_anything_is_sent_or_waited_for(
    odd_server: OddServer, odd_client: OddClient, extras: dict[str, Any]
) -> None:
    """Extras that cannot be sent are an InvalidRequestError at once: no request, and no
    active slot taken or waited for."""
    async with odd_client(await odd_server.start(), limits=Limits()) as client:
        with pytest.raises(InvalidRequestError, match="nothing was sent"):
            await client.projects.create("a teaser", **extras)
        slots = client.statistics().slots
    assert odd_server.requests == []
    assert (slots.held, slots.pending, slots.waiting) == (0, 0, 0)
