"""JSON views of the simulator's records, in the contract's shapes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._model import Account, ApiKey, Message, Project

__all__ = ["account_view", "iso", "key_view", "message_view", "project_view"]


def iso(unix: float) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``."""
    stamp = datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def project_view(project: Project, progress: float | None) -> dict[str, Any]:
    """A ``Project`` body."""
    return {
        "id": project.id,
        "object": "project",
        "status": project.status,
        "mode": project.mode,
        "brief": project.brief,
        "agent_message": project.agent_message,
        "error_message": project.error_message,
        "progress": progress,
        "webhook_url": project.webhook_url,
        "metadata": project.metadata,
        "has_result": project.has_result,
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
    }


def message_view(message: Message) -> dict[str, Any]:
    """A ``Message`` body."""
    return {
        "id": message.id,
        "object": "message",
        "project_id": message.project_id,
        "role": message.role,
        "content": message.content,
        "created_at": iso(message.created_at),
    }


def key_view(key: ApiKey) -> dict[str, Any]:
    """An ``ApiKey`` body (the secret never appears, only its first 12 characters)."""
    return {
        "id": key.id,
        "object": "api_key",
        "name": key.name,
        "prefix": key.secret[:12],
        "created_at": iso(key.created_at),
    }


def account_view(account: Account) -> dict[str, Any]:
    """An ``Account`` body (counters as of the last advance)."""
    return {
        "object": "account",
        "credits": account.credits,
        "plan": account.plan,
        "active_projects": len(account.active),
        "renders_today": account.renders_today,
        "projects_today": account.projects_today,
    }
