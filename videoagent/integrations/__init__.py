"""Integrations with web frameworks (optional extras, imported only when used).

* ``videoagent.integrations.fastapi``: a lifespan holding one client and one
  watcher, route dependencies, a webhook router and Server-Sent Events
  (``pip install 'videoagent[fastapi]'``).
* :class:`ProjectFeed` (here, framework-neutral): one watcher's events fanned
  out to any number of readers, with the latest state of each project, and
  :func:`sse_format` to write them as Server-Sent Events.

Webhook verification itself is framework-neutral too: ``videoagent.webhooks``.
"""

from ._feed import FeedEvent, ProjectFeed, project_data, sse_format

__all__ = ["FeedEvent", "ProjectFeed", "project_data", "sse_format"]
