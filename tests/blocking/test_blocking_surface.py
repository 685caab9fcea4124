"""``VideoAgent`` has ``AsyncVideoAgent``'s surface: names, arguments, return types and errors."""

from __future__ import annotations

import inspect
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from blocking_helpers import client_of

from videoagent import (
    AsyncVideoAgent,
    ClientStatistics,
    ConfigurationError,
    InvalidRequestError,
    Message,
    NotFoundError,
    Project,
    ProjectWatcher,
    RawResponse,
    VideoAgent,
    WaitTimeoutError,
)
from videoagent.batch import Brief, BriefUpdate, run_batch_sync
from videoagent.simulator import BackgroundSimulator

#: The resources of both clients, by attribute path.
RESOURCES = (
    "projects",
    "projects.with_raw_response",
    "account",
    "account.with_raw_response",
    "api_keys",
    "api_keys.with_raw_response",
)


def _resolve(root: object, path: str) -> object:
    for name in path.split("."):
        root = getattr(root, name)
    return root


def _methods(resource: object) -> set[str]:
    return {
        name
        for name in dir(resource)
        if not name.startswith("_")
        and name != "with_raw_response"
        and callable(getattr(resource, name))
    }


@pytest.mark.parametrize("path", RESOURCES)
def test_every_async_method_is_there_with_its_signature(
    blocking_client: VideoAgent, path: str
) -> None:
    """Each resource has the async one's methods, with the same signatures and docstrings."""
    blocking = _resolve(blocking_client, path)
    async_resource = _resolve(AsyncVideoAgent("es_live_x", "http://127.0.0.1:9/v1"), path)
    names = _methods(async_resource)
    assert names
    assert _methods(blocking) == names
    for name in names:
        ours, theirs = getattr(blocking, name), getattr(async_resource, name)
        signature, async_signature = inspect.signature(ours), inspect.signature(theirs)
        assert signature.parameters == async_signature.parameters, name
        returns = str(async_signature.return_annotation)
        if returns.startswith("AsyncIterator["):  # (list, messages: plain iterators)
            returns = returns.removeprefix("Async")
        assert signature.return_annotation == returns, name
        assert ours.__doc__ == theirs.__doc__, name


@pytest.mark.parametrize("path", ["projects", "account", "api_keys"])
def test_raw_methods_show_the_plain_ones_parameters(blocking_client: VideoAgent, path: str) -> None:
    """``help()`` and a notebook's tooltip (``inspect.signature``) show a raw method's real
    parameters and its ``RawResponse`` return type, on both clients; the blocking
    ``list`` says it returns a plain iterator."""
    async_client = AsyncVideoAgent("es_live_x", "http://127.0.0.1:9/v1")
    plain = _resolve(async_client, path)
    for client in (async_client, blocking_client):
        raw = _resolve(client, f"{path}.with_raw_response")
        for name in _methods(raw):
            signature = inspect.signature(getattr(raw, name))
            plain_signature = inspect.signature(getattr(plain, name))
            assert signature.parameters == plain_signature.parameters, name
            assert (
                signature.return_annotation == f"RawResponse[{plain_signature.return_annotation}]"
            )
    assert inspect.signature(blocking_client.projects.list).return_annotation == "Iterator[Project]"


def test_the_watcher_has_the_async_watchers_methods(blocking_client: VideoAgent) -> None:
    """``client.watcher`` has every public method of ``ProjectWatcher``, with its arguments
    (``watch`` without ``on_event`` and ``client``: events are read with ``events()``)."""
    ours, theirs = blocking_client.watcher, ProjectWatcher
    assert _methods(ours) == {name for name in dir(theirs) if not name.startswith("_")}
    for name in _methods(ours):
        async_parameters = dict(inspect.signature(getattr(theirs, name)).parameters)
        del async_parameters["self"]
        if name == "watch":
            del async_parameters["on_event"], async_parameters["client"]
        parameters = inspect.signature(getattr(ours, name)).parameters
        assert list(parameters) == list(async_parameters), name
        for key, parameter in async_parameters.items():
            assert parameters[key].default == parameter.default, (name, key)
            assert parameters[key].kind == parameter.kind, (name, key)


def test_the_constructor_takes_the_async_clients_options() -> None:
    """``VideoAgent()`` takes every option of ``AsyncVideoAgent()`` but its own aiohttp session."""
    ours = inspect.signature(VideoAgent.__init__).parameters
    theirs = dict(inspect.signature(AsyncVideoAgent.__init__).parameters)
    del theirs["session"]  # a session belongs to its event loop; the engine's is private
    assert list(ours) == list(theirs)
    for name, parameter in theirs.items():
        assert ours[name].default == parameter.default, name
        assert ours[name].kind == parameter.kind, name


def test_the_client_itself_has_the_async_clients_surface(blocking_client: VideoAgent) -> None:
    """Every public name of ``AsyncVideoAgent`` but ``aclose`` (``close`` blocks) is on
    ``VideoAgent``, and its methods take the same arguments and return the same types."""
    async_client = AsyncVideoAgent("es_live_x", "http://127.0.0.1:9/v1")
    names = {name for name in dir(async_client) if not name.startswith("_")} - {"aclose"}
    assert {name for name in dir(blocking_client) if not name.startswith("_")} == names
    for name in names:
        async_one = getattr(AsyncVideoAgent, name, None)  # (None: an instance's attribute)
        if inspect.isfunction(async_one):
            mine = getattr(VideoAgent, name)
            assert inspect.signature(mine) == inspect.signature(async_one), name


def test_a_bad_option_raises_in_the_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configuration errors come from ``VideoAgent(...)`` itself, before any thread starts."""
    monkeypatch.delenv("VIDEOAGENT_API_KEY", raising=False)
    threads = threading.active_count()
    with pytest.raises(ConfigurationError, match="VIDEOAGENT_API_KEY"):
        VideoAgent(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError, match="timeout"):
        VideoAgent("es_live_x", "http://127.0.0.1:9/v1", timeout=0)
    client = VideoAgent("es_live_x", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError, match="max_retries"):
        client.with_options(max_retries=-1)
    assert threading.active_count() == threads  # (started at the first call)
    client.close()


def test_the_same_errors_as_the_async_client(blocking_client: VideoAgent) -> None:
    """Errors are the async client's own: refused before sending, from the API, timeouts."""
    with pytest.raises(InvalidRequestError, match="project_id"):
        blocking_client.projects.get("not-an-id")
    with pytest.raises(NotFoundError) as found:
        blocking_client.projects.get("prj_" + "x" * 16)
    assert found.value.request_id is not None
    project = blocking_client.projects.create("a teaser")
    with pytest.raises(WaitTimeoutError):
        blocking_client.projects.wait(project.id, timeout=0.001)
    with pytest.raises(InvalidRequestError, match="status"):
        list(blocking_client.projects.list(status="bogus"))


def test_list_and_messages_are_plain_iterators_over_every_page(
    blocking_client: VideoAgent,
) -> None:
    """``list`` and ``messages`` return iterators that fetch page after page, and may be left."""
    created = [blocking_client.projects.create(f"brief {n}") for n in range(5)]
    listing = blocking_client.projects.list(limit=2)
    assert isinstance(listing, Iterator)
    listed = list(listing)
    assert all(isinstance(p, Project) for p in listed)
    assert {p.id for p in created} <= {p.id for p in listed}
    for project in blocking_client.projects.list(limit=1):  # left after the first page
        assert isinstance(project, Project)
        break
    done = blocking_client.projects.wait(created[0].id)
    messages = list(blocking_client.projects.messages(done.id, limit=1))
    assert messages
    assert all(isinstance(m, Message) for m in messages)
    after = list(blocking_client.projects.messages(done.id, after=messages[0].id))
    assert [m.id for m in after] == [m.id for m in messages[1:]]


def test_download_to_a_path_or_a_file(blocking_client: VideoAgent, tmp_path: Path) -> None:
    """``download`` writes a verified video to a path (returned) or into a binary file object."""
    project = blocking_client.projects.wait(blocking_client.projects.create("a teaser").id)
    result = blocking_client.projects.result(project.id)
    path = blocking_client.projects.download(project.id, tmp_path)
    assert path == tmp_path / f"{project.id}.mp4"
    buffer = io.BytesIO()
    assert blocking_client.projects.download(project.id, buffer) is buffer
    assert len(buffer.getvalue()) == result.size_bytes == path.stat().st_size


def test_raw_responses_statistics_and_copies(
    videoagent_simulator: BackgroundSimulator,
) -> None:
    """``with_raw_response``, ``statistics()`` and ``with_options`` copies share the engine."""
    client = client_of(videoagent_simulator)
    raw = client.account.with_raw_response.get()
    assert isinstance(raw, RawResponse)
    assert raw.status == 200
    assert raw.headers["X-RateLimit-Limit"] == "30"
    assert raw.parse().plan == "free"
    keys = client.api_keys.with_raw_response.list()
    assert keys.status == 200
    project = client.projects.with_raw_response.create("a teaser").parse()
    copy = client.with_options(timeout=1000.0, max_retries=0)
    assert (copy.timeout, copy.max_retries, client.timeout) == (1000.0, 0, 2500.0)
    assert copy.projects.get(project.id).id == project.id
    statistics = client.statistics()
    assert isinstance(statistics, ClientStatistics)
    assert copy.statistics().requests.limit == statistics.requests.limit == 30
    assert statistics.requests.in_window >= 4  # the copy's request counts in the same budget
    copy.close()  # does nothing
    assert client.projects.get(project.id).id == project.id
    assert repr(client).startswith("VideoAgent(base_url=")
    assert videoagent_simulator.api_key not in repr(client)
    client.close()
    client.close()  # idempotent
    with pytest.raises(ConfigurationError, match="closed"):
        copy.projects.get(project.id)


def test_api_keys(blocking_client: VideoAgent) -> None:
    """``api_keys``: create (the secret once), list, revoke."""
    created = blocking_client.api_keys.create("ci")
    assert created.key.startswith("es_live_")
    assert created.id in {key.id for key in blocking_client.api_keys.list()}
    assert blocking_client.api_keys.revoke(created.id) is None
    assert created.id not in {key.id for key in blocking_client.api_keys.list()}


def test_run_batch_sync_with_and_without_a_client(
    videoagent_simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """``run_batch_sync``: the batch, blocking; progress and replies in the calling thread."""
    sim = videoagent_simulator
    seen: set[str] = set()

    def reply(brief: Brief, project: Project) -> str:
        seen.add(threading.current_thread().name)
        return "go ahead"

    def on_update(update: BriefUpdate) -> None:
        seen.add(threading.current_thread().name)

    briefs: list[str | dict[str, str]] = [
        "a teaser",
        {"brief": "a demo", "name": "demo", "mode": "collaborative"},
    ]
    summary = run_batch_sync(
        briefs,
        out=tmp_path / "own",
        api_key=sim.api_key,
        base_url=sim.base_url,
        time_scale=sim.time_scale,
        reply=reply,
        on_update=on_update,
    )
    assert len(summary.done) == 2
    assert summary.requests is not None
    assert summary.requests > 0
    with client_of(sim) as client:
        shared = run_batch_sync(["another"], out=tmp_path / "shared", client=client)
        assert len(shared.done) == 1
        assert client.statistics().requests.in_window > 0  # through the client's own budget
    assert seen == {threading.current_thread().name}
