"""The one-call commands: create, get, list, watch, messages, send, cancel, render, ..."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio

from videoagent import (
    AgentMessage,
    AsyncVideoAgent,
    DecisionPoint,
    Message,
    Project,
    ProjectStatus,
    ProjectWatcher,
    StatusChanged,
    VideoAgentError,
    WatchEvent,
    WatchFailed,
)
from videoagent._config import timeout_for_scale
from videoagent._tasks import task_group
from videoagent.batch import safe_file_name

from ._config import UsageError, resolve
from ._paths import check_file
from ._text import printable

__all__ = ["COMMANDS", "run_command"]

Command = Callable[[AsyncVideoAgent, argparse.Namespace], Awaitable[int]]


def _emit(args: argparse.Namespace, value: Any, *lines: str, stream: bool = False) -> None:
    """Print ``value`` as JSON (``--json``) or ``lines`` as text, each made printable.

    ``stream``: one of many values (``watch``, ``messages``): JSON Lines, one object a line.
    """
    if args.json:
        text = json.dumps(value, default=str, indent=None if stream else 2)
    else:
        text = "\n".join(printable(line) for line in lines)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _project_line(project: Project) -> str:
    brief = project.brief if len(project.brief) <= 60 else project.brief[:59] + "…"
    extra = ""
    if project.status is ProjectStatus.FAILED and project.error_message:
        extra = f"  ({project.error_message})"
    elif project.has_result:
        extra = "  (result ready)"
    return f"{project.id}  {project.raw_status:<10}  {project.mode:<13}  {brief}{extra}"


def _project_text(project: Project) -> list[str]:
    lines = [
        f"id          {project.id}",
        f"status      {project.raw_status}",
        f"mode        {project.mode}",
        f"brief       {project.brief}",
        f"has result  {'yes' if project.has_result else 'no'}",
    ]
    if project.progress is not None:
        lines.append(f"progress    {project.progress:.0%}")
    if project.agent_message:
        lines.append(f"agent       {project.agent_message}")
    if project.error_message:
        lines.append(f"error       {project.error_message}")
    if project.metadata:
        lines.append(f"metadata    {json.dumps(dict(project.metadata))}")
    return lines


def _status(project: Project) -> int:
    """The exit status a project's end means: 1 failed or cancelled, else 0."""
    return 1 if project.status in (ProjectStatus.FAILED, ProjectStatus.CANCELLED) else 0


def _raw(value: Any) -> Any:
    return dict(value.raw) if getattr(value, "raw", None) else str(value)


def _metadata(pairs: list[str] | None) -> Mapping[str, str] | None:
    if not pairs:
        return None
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--metadata takes KEY=VALUE, got {pair!r}")
        result[key] = value
    return result


async def create(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Create a project (``--wait``: until it ends; 1 if it failed or was cancelled)."""
    project = await client.projects.create(
        args.brief,
        mode=args.mode,
        idempotency_key=args.idempotency_key,
        metadata=_metadata(args.metadata),
    )
    if args.wait:
        project = await client.projects.wait(project.id)
    _emit(args, _raw(project), *_project_text(project))
    return _status(project)


async def get(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Show a project."""
    project = await client.projects.get(args.id)
    _emit(args, _raw(project), *_project_text(project))
    return 0


async def list_(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """List projects, newest first."""
    found: list[Project] = []
    async for project in client.projects.list(status=args.status, limit=min(args.limit, 100)):
        found.append(project)
        if len(found) >= args.limit:
            break
    _emit(args, [_raw(p) for p in found], *([_project_line(p) for p in found] or ["no projects"]))
    return 0


async def watch(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Follow projects until each is idle, failed or cancelled (then 1), printing what happens."""
    failed = False

    async def show(events: AsyncIterator[WatchEvent]) -> None:
        async for event in events:
            _show_event(args, event)

    async with task_group() as group, ProjectWatcher(client) as watcher:
        group.start_soon(show, watcher.events(*args.id))
        for project_id in args.id:
            watcher.watch(project_id)
        for project_id in args.id:
            try:
                project = await watcher.wait(project_id)
            except VideoAgentError:
                failed = True  # shown as a WatchFailed event
                continue
            failed |= _status(project) != 0
        # the watcher closed its event stream: show() prints what is left, then ends
    return 1 if failed else 0


def _show_event(args: argparse.Namespace, event: WatchEvent) -> None:
    if isinstance(event, StatusChanged):
        project = event.project
        _emit(
            args,
            {"event": "status", "project": _raw(project)},
            f"{project.id}  {project.raw_status}",
            stream=True,
        )
    elif isinstance(event, DecisionPoint):
        _emit(
            args,
            {"event": "decision_point", "project_id": event.project_id},
            f"{event.project_id}  asks: {event.question}",
            stream=True,
        )
    elif isinstance(event, AgentMessage):
        _emit(
            args,
            {"event": "message", "message": _raw(event.message)},
            f"{event.project_id}  agent: {event.message.content}",
            stream=True,
        )
    elif isinstance(event, WatchFailed):
        _emit(
            args,
            {"event": "watch_failed", "project_id": event.project_id, "error": str(event.error)},
            f"{event.project_id}  watch failed: {event.error}",
            stream=True,
        )


def _message_line(message: Message) -> str:
    return f"{message.created_at:%H:%M:%S}  {message.role:<6} {message.content}"


async def messages(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Print a project's messages; ``--follow``: keep printing new ones (Ctrl-C ends)."""
    cursor: str | None = None
    while True:
        async for message in client.projects.messages(args.id, after=cursor, limit=100):
            cursor = message.id
            _emit(args, _raw(message), _message_line(message), stream=True)
        if not args.follow:
            return 0
        project = await client.projects.get(args.id)
        wait = 5.0 if project.status is ProjectStatus.QUEUED else 30.0
        await anyio.sleep(wait * client.time_scale)


async def send(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Send feedback (or retry a failed project)."""
    accepted = await client.projects.send_message(args.id, args.text)
    _emit(
        args,
        _raw(accepted),
        f"sent {accepted.message.id}; {accepted.project.id} is {accepted.project.raw_status}",
    )
    return 0


async def cancel(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Cancel a project."""
    project = await client.projects.cancel(args.id)
    _emit(args, _raw(project), f"{project.id} is {project.raw_status}")
    return 0


async def render(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Render an idle project again (``--wait``: until done; 1 if it failed or was cancelled)."""
    project = await client.projects.render(args.id, resolution=args.resolution)
    if args.wait:
        project = await client.projects.wait(project.id)
    _emit(args, _raw(project), f"{project.id} is {project.raw_status}")
    return _status(project)


async def download(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Download a project's video, verified by size and sha256."""
    destination = Path(args.path) if args.path else Path(safe_file_name(args.id))
    check_file(destination, "the path")
    if args.wait:
        await client.projects.wait(args.id)
    path = await client.projects.download(args.id, destination)
    _emit(args, {"project_id": args.id, "path": str(path)}, f"saved {path} (verified)")
    return 0


async def account(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """Show credits, plan and today's usage."""
    acct = await client.account.get()
    _emit(
        args,
        _raw(acct),
        f"credits          {acct.credits:,}",
        f"plan             {acct.plan}",
        f"active projects  {acct.active_projects}",
        f"projects today   {acct.projects_today}",
        f"renders today    {acct.renders_today}",
    )
    return 0


async def keys(client: AsyncVideoAgent, args: argparse.Namespace) -> int:
    """List, create or revoke API keys."""
    if args.keys_command == "list":
        found = await client.api_keys.list()
        _emit(
            args,
            [_raw(k) for k in found],
            *(f"{k.id}  {k.prefix}…  {k.name}  {k.created_at:%Y-%m-%d}" for k in found),
        )
    elif args.keys_command == "create":
        created = await client.api_keys.create(args.name)
        # The new key's secret: shown this once, on purpose (it cannot be fetched again).
        _emit(
            args,
            {"id": created.id, "name": created.name, "key": created.key},
            f"created {created.id} ({created.name})",
            created.key,
            "Store this key now: it is not shown again.",
        )
    else:
        await client.api_keys.revoke(args.key_id)
        _emit(args, {"revoked": args.key_id}, f"revoked {args.key_id}")
    return 0


COMMANDS: dict[str, Command] = {
    "create": create,
    "get": get,
    "list": list_,
    "watch": watch,
    "messages": messages,
    "send": send,
    "cancel": cancel,
    "render": render,
    "download": download,
    "account": account,
    "keys": keys,
}


async def run_command(args: argparse.Namespace) -> int:
    """Connect with the configured settings and run one of ``COMMANDS``."""
    settings = resolve(args)
    async with AsyncVideoAgent(
        settings.api_key,
        settings.base_url,
        time_scale=settings.time_scale,
        timeout=timeout_for_scale(settings.time_scale),
        allow_insecure=settings.allow_insecure,
    ) as client:
        return await COMMANDS[args.command](client, args)
