"""Reading the API: cursor pages (always ending), and the ``Poller``'s reads of projects.

``every_page`` walks a cursor-paginated list (``after`` the last id); a
cursor the server hands out twice (a page that repeats, or pages in a cycle),
or one that is no id of ours, ends the walk in ``APIResponseError``: a list
always ends. ``Poller`` reads projects and message pages with a budget
priority or a ticket already held: the watcher's polls, and the look-ups the
resources make before and after an action.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from ._arguments import check_id, check_limit, is_id
from ._converter import structure, structure_project
from ._errors import APIResponseError
from ._ledger import ProjectLedger
from ._models import MessagePage, Project
from ._retry import Caller, Extras, RequestOptions
from ._seams import Priority, Ticket

__all__ = ["Poller", "every_page"]

ItemT_co = TypeVar("ItemT_co", bound="_HasId", covariant=True)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


class _Page(Protocol[ItemT_co]):
    @property
    def data(self) -> Sequence[ItemT_co]: ...

    @property
    def has_more(self) -> bool: ...


async def every_page(
    fetch: Callable[[str | None], Awaitable[_Page[ItemT_co]]],
    after: str | None,
    prefix: str,
    *,
    max_pages: int | None = None,
) -> AsyncIterator[ItemT_co]:
    """Every item of a cursor-paginated list: pages fetched one by one, ``after`` the last
    id (of the form ``{prefix}_...``); see the module docstring for how it always ends.
    ``max_pages``: more pages than that is an ``APIResponseError`` too (for the SDK's own
    look-ups, which no caller could stop)."""
    used: set[str | None] = {after}
    while True:
        if max_pages is not None and len(used) > max_pages:
            raise APIResponseError(f"the list goes on past {max_pages:,} pages")
        page = await fetch(after)
        for item in page.data:
            yield item
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id
        if not is_id(after, prefix):
            raise APIResponseError(
                f"a page ends in {after[:80]!r}, not an id of the form {prefix}_..."
            )
        if after in used:
            raise APIResponseError(
                f"the pages repeat: the cursor {after} came back after {len(used)} pages"
            )
        used.add(after)


class Poller:
    """Reads of projects with a budget priority or a held ticket (see the module)."""

    def __init__(self, caller: Caller, options: RequestOptions, ledger: ProjectLedger) -> None:
        self._caller = caller
        self._options = options
        self._ledger = ledger

    def parse_project(self, data: Any, request_id: str | None) -> Project:
        """A ``Project`` answer, accepted by the ledger."""
        return self._ledger.accept(structure_project(data, request_id))

    async def get(self, project_id: str, *, via: Priority | Ticket = Priority.USER) -> Project:
        """``GET /projects/{id}`` (a held ticket is released by the call)."""
        return await self._caller.call(
            "GET",
            f"/projects/{check_id(project_id, 'prj', 'project_id')}",
            self.parse_project,
            options=self._options,
            via=via,
        )

    async def messages_page(
        self,
        project_id: str,
        *,
        after: str | None = None,
        limit: int | None = None,
        via: Priority | Ticket = Priority.USER,
        extras: Extras | None = None,
    ) -> MessagePage:
        """One page of the project's messages, oldest first, newer than ``after``."""
        path = f"/projects/{check_id(project_id, 'prj', 'project_id')}/messages"
        params: dict[str, str] = {}
        if after is not None:
            check_id(after, "msg", "after")
            params["after"] = after
        if limit is not None:
            params["limit"] = str(check_limit(limit))
        return await self._caller.call(
            "GET",
            path,
            lambda data, request_id: structure(data, MessagePage, request_id=request_id),
            options=self._options,
            params=params,
            via=via,
            extras=extras,
        )
