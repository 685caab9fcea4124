"""Raw answers: ``client.projects.with_raw_response.get(...)`` and friends.

As in openai-python, each resource has a ``with_raw_response`` namespace
with the same methods and arguments; each returns a ``RawResponse``: the
HTTP status and headers of the answer (the rate-limit headers and the
request id among them) and ``parse()``, the object the plain method returns.
The call is the plain method's, unchanged (its limits, retries, slots and
checks): the answer it ends with is the one shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, ParamSpec, TypeVar

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from ._retry import capture_answer
from ._signatures import as_raw_response, signature_like

__all__ = ["RawResponse", "raw_method"]

P = ParamSpec("P")
T = TypeVar("T")


@attrs.frozen
class RawResponse(Generic[T]):
    """The HTTP answer a call ended with, and what the call made of it.

    Attributes:
        status: the HTTP status (200, 202, 204).
        headers: the answer's headers (``X-RateLimit-Remaining``,
            ``X-Request-Id``, ...), case-insensitive.
    """

    status: int
    headers: Mapping[str, str]
    _parsed: T = attrs.field(alias="parsed", repr=False)

    @property
    def request_id(self) -> str | None:
        """The answer's ``X-Request-Id``: quote it to support."""
        return self.headers.get("X-Request-Id")

    def parse(self) -> T:
        """What the plain method returns (a ``Project``, an ``Account`` ...)."""
        return self._parsed


_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


def raw_method(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` (a resource's), returning its answer's ``RawResponse`` instead."""

    async def with_raw_response(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        with capture_answer() as captured:
            parsed = await method(*args, **kwargs)
        return RawResponse(captured.status, captured.headers or _NO_HEADERS, parsed=parsed)

    with_raw_response.__name__ = getattr(method, "__name__", "with_raw_response")
    with_raw_response.__doc__ = method.__doc__
    with_raw_response.__signature__ = signature_like(method, as_raw_response)  # type: ignore[attr-defined]  # (read by inspect)
    return with_raw_response
