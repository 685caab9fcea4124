"""Never run: mypy --strict checks that the public API types as documented."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

import aiohttp
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from videoagent import (
    NOT_GIVEN,
    Account,
    AgentMessage,
    APIConnectionError,
    APIError,
    ApiKey,
    ApiKeyCreated,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncVideoAgent,
    AuthenticationError,
    BudgetStatistics,
    ClientStatistics,
    ConfigurationError,
    ConflictError,
    CreditsLow,
    CreditsWarning,
    DecisionPoint,
    DownloadError,
    DownloadVerificationError,
    InsecureBaseURLWarning,
    InsufficientCreditsError,
    InternalServerError,
    InvalidRequestError,
    Limits,
    Message,
    MessageAccepted,
    MessagePage,
    NotFoundError,
    NotGiven,
    PayloadTooLargeError,
    PermissionDeniedError,
    PollPolicy,
    PollStep,
    Project,
    ProjectFailedError,
    ProjectLimitError,
    ProjectPage,
    ProjectStatus,
    ProjectWatcher,
    RateLimitError,
    RawResponse,
    Result,
    ResultExpiredError,
    RetryPolicy,
    ServiceUnavailableError,
    SlotStatistics,
    StatusChanged,
    ValidationError,
    VideoAgent,
    VideoAgentError,
    WaitTimeoutError,
    WatcherStatistics,
    WatchEvent,
    WatchFailed,
    WatchStoppedError,
)
from videoagent.batch import (
    BatchRunner,
    BatchSummary,
    Brief,
    BriefOutcome,
    BriefSet,
    BriefUpdate,
    load_briefs,
    run_batch,
    run_batch_sync,
)
from videoagent.fleet import FleetRuntime, FleetStatistics, RedisBackend
from videoagent.integrations import FeedEvent, ProjectFeed
from videoagent.integrations.fastapi import (
    ClientDep,
    FeedDep,
    StateDep,
    event_stream,
    lifespan,
    webhook_router,
)
from videoagent.simulator import (
    BackgroundSimulator,
    Faults,
    ProjectSnapshot,
    Simulator,
    SimulatorStats,
)
from videoagent.webhooks import (
    WebhookError,
    WebhookEvent,
    WebhookReceiver,
    WebhookVerifier,
    aiohttp_receiver,
    parse_event,
    sign,
    verify_signature,
)

if sys.version_info >= (3, 11):
    from typing import assert_never, assert_type
else:
    from typing_extensions import assert_never, assert_type


def on_warning(warning: CreditsWarning) -> None:
    """A credits callback."""
    assert_type(warning.balance, int)


def describe(status: ProjectStatus) -> str:
    """Status matches are exhaustive."""
    if status is ProjectStatus.QUEUED or status is ProjectStatus.RUNNING:
        return "starting"
    if status is ProjectStatus.GENERATING or status is ProjectStatus.RENDERING:
        return "working"
    if status is ProjectStatus.IDLE:
        return "your turn"
    if status is ProjectStatus.FAILED or status is ProjectStatus.CANCELLED:
        return "over"
    if status is ProjectStatus.UNKNOWN:
        return "newer server"
    assert_never(status)


async def main(session: aiohttp.ClientSession) -> None:
    """Every public call, with the types it returns."""
    async with AsyncVideoAgent(
        "es_live_x",
        "http://127.0.0.1:8080/v1",
        time_scale=0.01,
        limits=Limits(),
        max_retries=4,
        timeout=30.0,
        retry=RetryPolicy(max_retry_wait=60.0),
        poll_policy=PollPolicy(),
        session=session,
        on_credits_warning=on_warning,
    ) as client:
        p = await client.projects.create(
            "a 20 s teaser", mode="autonomous", idempotency_key=None, webhook_url=None, metadata={}
        )
        assert_type(p, Project)
        assert_type(p.status.is_active, bool)
        assert_type(await client.projects.get(p.id), Project)
        async for listed in client.projects.list(status=ProjectStatus.IDLE, limit=50):
            assert_type(listed, Project)
        accepted = await client.projects.send_message(p.id, "make it warmer")
        assert_type(accepted, MessageAccepted)
        async for message in client.projects.messages(p.id, after=accepted.message.id):
            assert_type(message, Message)
        assert_type(await client.projects.update_settings(p.id, mode="collaborative"), Project)
        assert_type(await client.projects.update_settings(p.id, webhook_url=None), Project)
        assert_type(await client.projects.update_settings(p.id, webhook_url=NOT_GIVEN), Project)
        assert_type(await client.projects.cancel(p.id), Project)
        assert_type(await client.projects.render(p.id, resolution="1080p"), Project)
        assert_type(await client.projects.result(p.id), Result)
        assert_type(await client.projects.download(p.id, "out/teaser.mp4"), Path)
        assert_type(await client.projects.wait(p.id, timeout=600.0), Project)
        assert_type(await client.account.get(), Account)
        keys = await client.api_keys.list()
        assert_type(keys, tuple[ApiKey, ...])
        created = await client.api_keys.create("ci")
        assert_type(created, ApiKeyCreated)
        assert_type(await client.api_keys.revoke(created.id), None)
        fast = client.with_options(timeout=5.0, max_retries=0)
        assert_type(fast, AsyncVideoAgent)
        assert_type(await fast.close(), None)  # (a copy: closes nothing)
        assert_type(await fast.aclose(), None)
        try:
            await fast.projects.get(p.id)
        except ValidationError as exc:
            assert_type(exc.errors["brief"], str)
        except RateLimitError as exc:
            assert_type(exc.retry_after, float | None)
        except APIError as exc:
            assert_type(exc.request_id, str | None)
            assert_type(exc.status, int | None)
        except VideoAgentError:
            pass


def blocking() -> None:
    """The blocking client: every call of the async one, with the same types, not ``Any``."""
    with VideoAgent(
        "es_live_x",
        "http://127.0.0.1:8080/v1",
        time_scale=0.01,
        limits=Limits(),
        max_retries=4,
        timeout=30.0,
        retry=RetryPolicy(max_retry_wait=60.0),
        poll_policy=PollPolicy(),
        on_credits_warning=on_warning,
    ) as client:
        assert_type(client, VideoAgent)
        p = client.projects.create("a 20 s teaser", mode="autonomous", metadata={"k": "v"})
        assert_type(p, Project)
        assert_type(client.projects.get(p.id), Project)
        listing = client.projects.list(status=ProjectStatus.IDLE, limit=50)
        assert_type(listing, Iterator[Project])
        for listed in listing:
            assert_type(listed, Project)
        accepted = client.projects.send_message(p.id, "make it warmer")
        assert_type(accepted, MessageAccepted)
        for message in client.projects.messages(p.id, after=accepted.message.id):
            assert_type(message, Message)
        assert_type(client.projects.update_settings(p.id, webhook_url=None), Project)
        assert_type(client.projects.cancel(p.id), Project)
        assert_type(client.projects.render(p.id, resolution="4k"), Project)
        assert_type(client.projects.result(p.id), Result)
        assert_type(client.projects.download(p.id, "out/teaser.mp4"), Path)
        assert_type(client.projects.download(p.id, io.BytesIO()), BinaryIO)

        def on_update(project: Project) -> None:
            assert_type(project.status, ProjectStatus)

        done = client.projects.wait(p.id, timeout=600.0, on_update=on_update)
        assert_type(done, Project)
        assert_type(client.projects.poll(p.id).countdown, float | None)
        assert_type(client.account.get(), Account)
        assert_type(client.api_keys.list(), tuple[ApiKey, ...])
        assert_type(client.api_keys.create("ci"), ApiKeyCreated)
        assert_type(client.api_keys.revoke("key_x"), None)
        raw = client.projects.with_raw_response.get(p.id)
        assert_type(raw, RawResponse[Project])
        assert_type(client.account.with_raw_response.get().parse(), Account)
        assert_type(client.statistics(), ClientStatistics)
        client.watcher.watch(p)
        client.watcher.notify(p.id, status=ProjectStatus.RUNNING)
        assert_type(client.watcher.wait(p.id, timeout=60.0, on_update=on_update), Project)
        for event in client.watcher.events(p.id):
            assert_type(event, WatchEvent)
        assert_type(client.watcher.statistics(), WatcherStatistics)
        client.watcher.unwatch(p.id)
        client.watcher.watch(p, on_event=print)  # type: ignore[call-arg]
        fast = client.with_options(timeout=5.0, max_retries=0)
        assert_type(fast, VideoAgent)
        client.projects.create(123)  # type: ignore[arg-type]
        client.projects.get(p.id, timeout=5.0)  # type: ignore[call-arg]
        client.projects.wait(p.id, on_update="print")  # type: ignore[arg-type]
        summary = run_batch_sync(["a teaser"], out="videos/", client=client, retries=2)
        assert_type(summary, BatchSummary)
    client.close()


async def watch_many(client: AsyncVideoAgent, ids: list[str]) -> None:
    """The watcher: watch, notify, wait, events matched exhaustively."""
    async with ProjectWatcher(client, policy=PollPolicy(generating=(30.0, 30.0))) as watcher:
        for project_id in ids:
            watcher.watch(project_id, on_event=lambda event: None)
        watcher.notify(ids[0], status="rendering")
        assert_type(await watcher.wait(ids[0], timeout=60.0), Project)
        assert_type(watcher.statistics(), WatcherStatistics)
        async for event in watcher.events(*ids):
            assert_type(event, WatchEvent)
            match event:
                case StatusChanged(project=project, previous=previous):
                    assert_type(project, Project)
                    assert_type(previous, ProjectStatus | None)
                case DecisionPoint():
                    assert_type(event.question, str | None)
                case AgentMessage(message=message):
                    assert_type(message, Message)
                case CreditsLow(warning=warning):
                    assert_type(warning, CreditsWarning)
                case WatchFailed(error=error):
                    assert_type(error, VideoAgentError)
                case _:
                    assert_never(event)
        watcher.unwatch(ids[0])


def configuration() -> None:
    """The frozen configuration values, their fields and the not-given sentinel."""
    limits = Limits(requests=30, per=60.0, active_projects=5, reserve=2, margin=0.0)
    assert_type(limits.requests, int | None)
    assert_type(limits.active_projects, int | None)
    assert_type(Limits.unlimited(), Limits)
    policy = PollPolicy(queued=5.0, running=30.0, generating=(30.0, 60.0), rendering=30.0)
    assert_type(policy.generating, tuple[float, float])
    assert_type(policy.max_consecutive_errors, int)
    retry = RetryPolicy(max_retries=4, backoff_base=0.5, backoff_max=30.0, max_retry_wait=120.0)
    assert_type(retry.max_retry_wait, float)
    assert issubclass(InsecureBaseURLWarning, UserWarning)


def settings(webhook_url: str | NotGiven | None = NOT_GIVEN) -> str:
    """``NOT_GIVEN`` tells an argument left out from an explicit ``None``."""
    if isinstance(webhook_url, NotGiven):
        assert_type(webhook_url, NotGiven)
        return "unchanged"
    assert_type(webhook_url, str | None)
    return webhook_url or "cleared"


def explain(error: VideoAgentError) -> str:
    """Every branch of the error tree, with the attributes each adds."""
    match error:
        case ValidationError(errors=errors):
            return ", ".join(f"{field}: {why}" for field, why in errors.items())
        case RateLimitError() | ProjectLimitError() | ServiceUnavailableError():
            assert_type(error.retry_after, float | None)
            return "later"
        case (
            AuthenticationError()
            | InsufficientCreditsError()
            | PermissionDeniedError()
            | NotFoundError()
            | ConflictError()
            | PayloadTooLargeError()
            | InternalServerError()
        ):
            assert_type(error.status, int | None)
            return error.message
        case APIStatusError(code=code):
            assert_type(code, str | None)
            return "newer server"
        case APITimeoutError():
            timeout: TimeoutError = error
            return str(timeout)
        case APIConnectionError() | APIResponseError():
            assert_type(error.request_id, str | None)
            return "retry"
        case DownloadVerificationError():
            assert_type(error.expected_sha256, str)
            assert_type(error.actual_size, int)
            return "corrupt"
        case ResultExpiredError() | DownloadError():
            return "render again"
        case WaitTimeoutError(project_id=project_id) | WatchStoppedError(project_id=project_id):
            assert_type(project_id, str | None)
            return "still going"
        case InvalidRequestError():
            value_error: ValueError = error
            return str(value_error)
        case ConfigurationError():
            return "set VIDEOAGENT_API_KEY"
        case _:
            return str(error)


def pages(projects: ProjectPage, messages: MessagePage) -> None:
    """One page of a listing: its items and whether more follow."""
    assert_type(projects.data, tuple[Project, ...])
    assert_type(messages.data, tuple[Message, ...])
    assert_type(projects.has_more, bool)
    assert_type(messages.credits_warning, CreditsWarning | None)


async def fleet(api_key: str) -> None:
    """Fleet mode: a Redis backend in the limits; the runtime it connects, and its statistics."""
    backend = RedisBackend(url="redis://localhost:6379/0", account="team", prefix="va", lease=10.0)
    limits = Limits()
    async with AsyncVideoAgent(limits_backend=backend) as client:
        assert_type(await client.account.get(), Account)
    runtime = backend.connect(api_key=api_key, limits=limits, time_scale=1.0, timeout=30.0)
    assert_type(runtime, FleetRuntime)
    async with runtime as entered:
        assert_type(entered, FleetRuntime)
        statistics = entered.statistics()
        assert_type(statistics, FleetStatistics)
        assert_type(statistics.redis_up, bool)
        assert_type(statistics.round_trips, int)


async def simulate() -> None:
    """The simulator, in-process and from a background thread."""
    async with Simulator(time_scale=0.01, seed=7, durations={"queued": (1.0, 2.0)}) as sim:
        assert_type(sim.base_url, str)
        assert_type(sim.api_key, str)
        assert_type(sim.add_account(credits=500, plan="pro"), str)
        assert_type(sim.set_faults(error_500=0.1, only="/v1/projects"), Faults)
        assert_type(sim.stats(), SimulatorStats)
        assert_type(sim.projects(), tuple[ProjectSnapshot, ...])
        sim.advance(60.0)
        sim.fail_project("prj_x")
    with BackgroundSimulator(time_scale=0.01, seed=7) as background:
        assert_type(background.base_url, str)
        assert_type(background.stats().requests, int)


async def batch(client: AsyncVideoAgent) -> None:
    """Batches: briefs from a file or from values, replies sync or async, the summary."""
    briefs = load_briefs("briefs.csv")
    assert_type(briefs, BriefSet)
    assert_type(briefs.briefs, tuple[Brief, ...])

    async def reply(brief: Brief, project: Project) -> str:
        return f"{brief.text}: go ahead"

    def on_update(update: BriefUpdate) -> None:
        assert_type(update.state, str)

    def go_ahead(brief: Brief, project: Project) -> str:
        return "go ahead"

    summary = await run_batch(
        ["a teaser", {"brief": "a demo", "name": "demo"}],
        out="videos/",
        retries=2,
        reply=go_ahead,
        on_update=on_update,
    )
    assert_type(summary, BatchSummary)
    assert_type(summary.done, tuple[BriefOutcome, ...])
    assert_type(summary.credits_used, int | None)
    assert_type(summary.exit_code, int)
    runner = BatchRunner(client, out=Path("videos"), reply=reply, concurrency=5)
    assert_type(await runner.run(briefs), BatchSummary)


async def webhooks(watcher: ProjectWatcher, headers: Mapping[str, str], body: bytes) -> None:
    """Webhooks: verify and parse one, or let a receiver notify the watcher."""
    verifier = WebhookVerifier("whsec_x", tolerance=300.0)
    try:
        event = verifier.verify(headers, body)
    except WebhookError:
        return
    assert_type(event, WebhookEvent)
    assert_type(event.status, str | None)
    watcher.notify(event.project_id)
    signature = sign("whsec_x", "1700000000", body)
    when = verify_signature(["whsec_x"], body=body, timestamp="1700000000", signature=signature)
    assert_type(when, int)
    assert_type(parse_event(body), WebhookEvent)
    async with aiohttp_receiver(watcher, "whsec_x", port=0) as receiver:
        assert_type(receiver, WebhookReceiver)
        assert_type(receiver.url, str)


def fastapi_app() -> FastAPI:
    """The FastAPI integration: lifespan, webhook router, dependencies, Server-Sent Events."""
    app = FastAPI(lifespan=lifespan(lambda: AsyncVideoAgent(time_scale=0.01), webhook_secret="x"))
    app.include_router(webhook_router(path="/hooks"))

    @app.post("/projects")
    async def create(state: StateDep, client: ClientDep) -> dict[str, str]:
        project = await client.projects.create("a teaser", webhook_url=state.webhook_url)
        state.watcher.watch(project)
        state.feed.update(project)
        return {"id": project.id}

    @app.get("/projects/{project_id}/events")
    async def events(project_id: str, feed: FeedDep) -> StreamingResponse:
        assert_type(feed, ProjectFeed)
        assert_type(feed.get(project_id), Project | None)
        return event_stream(feed, project_id, heartbeat=15.0)

    return app


async def feed_reader(feed: ProjectFeed, project_id: str) -> None:
    """A project's feed read directly: the events a browser would get."""
    async with feed.subscribe(project_id) as events:
        async for event in events:
            assert_type(event, FeedEvent)
            assert_type(event.data, Mapping[str, Any])


async def first_hour(project_id: str, file: BinaryIO) -> None:
    """The environment, waiting options, statistics, raw answers, extras, the step API."""
    async with AsyncVideoAgent(
        default_headers={"X-Team": "t"}, trust_env=False, time_scale=None
    ) as client:
        seen: list[ProjectStatus] = []

        async def noted(project: Project) -> None:
            seen.append(project.status)

        done = await client.projects.wait(
            project_id,
            timeout=60.0,
            on_update=noted,
            raise_on_failure=True,
            cancel_on_timeout=True,
        )
        assert_type(done, Project)
        stats = client.statistics()
        assert_type(stats, ClientStatistics)
        assert_type(stats.requests, BudgetStatistics)
        assert_type(stats.requests.in_window, int)
        assert_type(stats.slots, SlotStatistics)
        assert_type(stats.rate_limited, int)
        raw = await client.projects.with_raw_response.get(project_id, extra_headers={"X": "1"})
        assert_type(raw, RawResponse[Project])
        assert_type(raw.parse(), Project)
        assert_type(raw.status, int)
        assert_type(raw.request_id, str | None)
        assert_type(await client.account.with_raw_response.get(), RawResponse[Account])
        assert_type(await client.api_keys.with_raw_response.revoke("key_x"), RawResponse[None])
        created = await client.projects.create(
            "b", extra_headers={"X": "1"}, extra_query={"q": "1"}, extra_body={"b": 1}
        )
        assert_type(created, Project)
        step = await client.projects.poll(project_id, since=step_since(), previous="queued")
        assert_type(step, PollStep)
        assert_type(step.delay, float | None)
        assert_type(step.countdown, float | None)
        assert_type(step.done, bool)
        assert_type(await client.projects.download(project_id, file), BinaryIO)
        assert_type(await client.projects.download(project_id, "out/"), Path)
        assert_type(client.watcher, ProjectWatcher)


def step_since() -> float:
    return 0.0


def limit_kinds(limit: ProjectLimitError, rate: RateLimitError, failed: ProjectFailedError) -> None:
    """The kinds of the limits, and a failed project's error."""
    assert_type(limit.kind, Literal["concurrent", "daily"])
    assert_type(rate.kind, Literal["requests", "renders_daily"])
    assert_type(failed.project, Project)
    assert_type(failed.error_message, str | None)
