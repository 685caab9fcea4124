"""videoagent: an asyncio-first SDK for the video-agent API.

Every public name is imported on first use (PEP 562), so ``import videoagent``
(and the pytest plugin ``videoagent.testing``, loaded by every pytest run)
stays cheap: aiohttp and the client load when ``AsyncVideoAgent`` is first
touched. Type checkers and IDEs see the real imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._client import AsyncVideoAgent
    from ._config import Limits, PollPolicy, RetryPolicy
    from ._errors import (
        APIConnectionError,
        APIError,
        APIResponseError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        ConfigurationError,
        ConflictError,
        DownloadError,
        DownloadVerificationError,
        InsecureBaseURLWarning,
        InsufficientCreditsError,
        InternalServerError,
        InvalidRequestError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        ProjectLimitError,
        RateLimitError,
        ResultExpiredError,
        ServiceUnavailableError,
        ValidationError,
        VideoAgentError,
        WaitTimeoutError,
        WatchStoppedError,
    )
    from ._events import (
        AgentMessage,
        CreditsLow,
        DecisionPoint,
        StatusChanged,
        WatchEvent,
        WatchFailed,
    )
    from ._models import (
        Account,
        ApiKey,
        ApiKeyCreated,
        CreditsWarning,
        Message,
        MessageAccepted,
        MessagePage,
        Project,
        ProjectPage,
        ProjectStatus,
        Result,
    )
    from ._types import NOT_GIVEN, NotGiven
    from ._watcher import ProjectWatcher, WatcherStatistics

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "Account",
    "AgentMessage",
    "ApiKey",
    "ApiKeyCreated",
    "AsyncVideoAgent",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CreditsLow",
    "CreditsWarning",
    "DecisionPoint",
    "DownloadError",
    "DownloadVerificationError",
    "InsecureBaseURLWarning",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidRequestError",
    "Limits",
    "Message",
    "MessageAccepted",
    "MessagePage",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PollPolicy",
    "Project",
    "ProjectLimitError",
    "ProjectPage",
    "ProjectStatus",
    "ProjectWatcher",
    "RateLimitError",
    "Result",
    "ResultExpiredError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "StatusChanged",
    "ValidationError",
    "VideoAgentError",
    "WaitTimeoutError",
    "WatchEvent",
    "WatchFailed",
    "WatchStoppedError",
    "WatcherStatistics",
]

#: The private module of each public name: the same names as the imports above.
_MODULES: dict[str, tuple[str, ...]] = {
    "._client": ("AsyncVideoAgent",),
    "._config": ("Limits", "PollPolicy", "RetryPolicy"),
    "._errors": (
        "APIConnectionError",
        "APIError",
        "APIResponseError",
        "APIStatusError",
        "APITimeoutError",
        "AuthenticationError",
        "ConfigurationError",
        "ConflictError",
        "DownloadError",
        "DownloadVerificationError",
        "InsecureBaseURLWarning",
        "InsufficientCreditsError",
        "InternalServerError",
        "InvalidRequestError",
        "NotFoundError",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "ProjectLimitError",
        "RateLimitError",
        "ResultExpiredError",
        "ServiceUnavailableError",
        "ValidationError",
        "VideoAgentError",
        "WaitTimeoutError",
        "WatchStoppedError",
    ),
    "._events": (
        "AgentMessage",
        "CreditsLow",
        "DecisionPoint",
        "StatusChanged",
        "WatchEvent",
        "WatchFailed",
    ),
    "._models": (
        "Account",
        "ApiKey",
        "ApiKeyCreated",
        "CreditsWarning",
        "Message",
        "MessageAccepted",
        "MessagePage",
        "Project",
        "ProjectPage",
        "ProjectStatus",
        "Result",
    ),
    "._types": ("NOT_GIVEN", "NotGiven"),
    "._watcher": ("ProjectWatcher", "WatcherStatistics"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}


def _load(name: str) -> Any:
    """Import the public ``name`` from its private module, once (then it is a global)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def _names() -> list[str]:
    """What ``dir(videoagent)`` lists: the module's globals and every public name."""
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:  # hidden from type checkers: they see the imports, not Any
    __getattr__ = _load
    __dir__ = _names
