"""The exception tree (skeleton: the client work fills in the HTTP branch).

    VideoAgentError
     +-- ConfigurationError      missing key or base URL, bad option
"""

from __future__ import annotations


class VideoAgentError(Exception):
    """Base of every error the SDK raises."""


class ConfigurationError(VideoAgentError):
    """The SDK is configured wrongly (missing API key or base URL, bad option)."""
