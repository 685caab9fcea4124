"""The contract's answers: JSON bodies, the one error format, and ApiError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["STATUS_OF", "ApiError", "error_body", "json_response"]

#: HTTP status of each error code (the vendor's table).
STATUS_OF: Mapping[str, int] = {
    "validation_error": 400,
    "unauthorized": 401,
    "insufficient_credits": 402,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "payload_too_large": 413,
    "project_limit": 429,
    "rate_limited": 429,
    "internal_error": 500,
    "service_unavailable": 503,
}


class ApiError(Exception):
    """An answer in the error format, at its code's status; ``retry_after`` in contract seconds."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS_OF[code]  # only the vendor table's pairs, never another status
        self.retry_after = retry_after


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    """``{"error": {"code", "message", "request_id"}}``."""
    return {"error": {"code": code, "message": message, "request_id": request_id}}


_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def json_response(body: Any, status: int = 200) -> web.Response:
    """A compact JSON response."""
    return web.Response(body=_dumps(body).encode(), status=status, content_type="application/json")
