"""Never run: mypy --strict checks that the public API types as documented."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp

from videoagent import (
    NOT_GIVEN,
    Account,
    AgentMessage,
    APIError,
    ApiKey,
    ApiKeyCreated,
    AsyncVideoAgent,
    CreditsLow,
    CreditsWarning,
    DecisionPoint,
    Limits,
    Message,
    MessageAccepted,
    PollPolicy,
    Project,
    ProjectStatus,
    ProjectWatcher,
    RateLimitError,
    Result,
    RetryPolicy,
    StatusChanged,
    ValidationError,
    VideoAgentError,
    WatcherStatistics,
    WatchEvent,
    WatchFailed,
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
