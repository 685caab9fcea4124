"""videoagent: an asyncio-first SDK for the video-agent API."""

__version__ = "0.1.0"
