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

if TYPE_CHECKING:  # what type checkers see: each name re-exported (``as``)
    from ._blocking import (
        VideoAgent as VideoAgent,
    )
    from ._client import (
        AsyncVideoAgent as AsyncVideoAgent,
    )
    from ._client import (
        ClientStatistics as ClientStatistics,
    )
    from ._config import (
        Limits as Limits,
    )
    from ._config import (
        PollPolicy as PollPolicy,
    )
    from ._config import (
        RetryPolicy as RetryPolicy,
    )
    from ._errors import (
        APIConnectionError as APIConnectionError,
    )
    from ._errors import (
        APIError as APIError,
    )
    from ._errors import (
        APIResponseError as APIResponseError,
    )
    from ._errors import (
        APIStatusError as APIStatusError,
    )
    from ._errors import (
        APITimeoutError as APITimeoutError,
    )
    from ._errors import (
        AuthenticationError as AuthenticationError,
    )
    from ._errors import (
        ConfigurationError as ConfigurationError,
    )
    from ._errors import (
        ConflictError as ConflictError,
    )
    from ._errors import (
        DownloadError as DownloadError,
    )
    from ._errors import (
        DownloadVerificationError as DownloadVerificationError,
    )
    from ._errors import (
        InsecureBaseURLWarning as InsecureBaseURLWarning,
    )
    from ._errors import (
        InsufficientCreditsError as InsufficientCreditsError,
    )
    from ._errors import (
        InternalServerError as InternalServerError,
    )
    from ._errors import (
        InvalidRequestError as InvalidRequestError,
    )
    from ._errors import (
        NotFoundError as NotFoundError,
    )
    from ._errors import (
        PayloadTooLargeError as PayloadTooLargeError,
    )
    from ._errors import (
        PermissionDeniedError as PermissionDeniedError,
    )
    from ._errors import (
        ProjectFailedError as ProjectFailedError,
    )
    from ._errors import (
        ProjectLimitError as ProjectLimitError,
    )
    from ._errors import (
        RateLimitError as RateLimitError,
    )
    from ._errors import (
        ResultExpiredError as ResultExpiredError,
    )
    from ._errors import (
        ServiceUnavailableError as ServiceUnavailableError,
    )
    from ._errors import (
        ValidationError as ValidationError,
    )
    from ._errors import (
        VideoAgentError as VideoAgentError,
    )
    from ._errors import (
        WaitTimeoutError as WaitTimeoutError,
    )
    from ._errors import (
        WatchStoppedError as WatchStoppedError,
    )
    from ._events import (
        AgentMessage as AgentMessage,
    )
    from ._events import (
        CreditsLow as CreditsLow,
    )
    from ._events import (
        DecisionPoint as DecisionPoint,
    )
    from ._events import (
        StatusChanged as StatusChanged,
    )
    from ._events import (
        WatchEvent as WatchEvent,
    )
    from ._events import (
        WatchFailed as WatchFailed,
    )
    from ._models import (
        Account as Account,
    )
    from ._models import (
        ApiKey as ApiKey,
    )
    from ._models import (
        ApiKeyCreated as ApiKeyCreated,
    )
    from ._models import (
        CreditsWarning as CreditsWarning,
    )
    from ._models import (
        Message as Message,
    )
    from ._models import (
        MessageAccepted as MessageAccepted,
    )
    from ._models import (
        MessagePage as MessagePage,
    )
    from ._models import (
        Project as Project,
    )
    from ._models import (
        ProjectPage as ProjectPage,
    )
    from ._models import (
        ProjectStatus as ProjectStatus,
    )
    from ._models import (
        Result as Result,
    )
    from ._projects import (
        PollStep as PollStep,
    )
    from ._raw import (
        RawResponse as RawResponse,
    )
    from ._seams import (
        BudgetStatistics as BudgetStatistics,
    )
    from ._seams import (
        SlotStatistics as SlotStatistics,
    )
    from ._types import (
        NOT_GIVEN as NOT_GIVEN,
    )
    from ._types import (
        NotGiven as NotGiven,
    )
    from ._watcher import (
        ProjectWatcher as ProjectWatcher,
    )
    from ._watcher import (
        WatcherStatistics as WatcherStatistics,
    )

#: The private module of each public name: the one list of the public names.
_MODULES: dict[str, tuple[str, ...]] = {
    "._blocking": ("VideoAgent",),
    "._client": (
        "AsyncVideoAgent",
        "ClientStatistics",
    ),
    "._config": (
        "Limits",
        "PollPolicy",
        "RetryPolicy",
    ),
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
        "ProjectFailedError",
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
    "._projects": ("PollStep",),
    "._raw": ("RawResponse",),
    "._seams": (
        "BudgetStatistics",
        "SlotStatistics",
    ),
    "._types": (
        "NOT_GIVEN",
        "NotGiven",
    ),
    "._watcher": (
        "ProjectWatcher",
        "WatcherStatistics",
    ),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}
if not TYPE_CHECKING:  # type checkers take the re-exports above
    #: Sorted as ruff sorts it: constants first.
    __all__ = sorted(_MODULE_OF, key=lambda name: (not name.isupper(), name))  # noqa: PLE0605 - built from _MODULES, the one list


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
    return sorted({*globals(), *_MODULE_OF})


if not TYPE_CHECKING:  # hidden from type checkers: they see the imports, not Any
    __getattr__ = _load
    __dir__ = _names
