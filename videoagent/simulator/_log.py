"""``RecordLog``: the latest records of one kind, and how many there ever were.

A simulator that serves for days must not grow without end: each of its logs
(requests, downloads, webhook deliveries) keeps the newest ``size`` records
and counts every one, so totals stay exact after old records are dropped.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["DEFAULT_LOG_SIZE", "RecordLog"]

#: Records each log keeps by default.
DEFAULT_LOG_SIZE = 10_000

T = TypeVar("T")


class RecordLog(Generic[T]):
    """The newest ``size`` records appended (all of them when ``size`` is None)."""

    def __init__(self, size: int | None = DEFAULT_LOG_SIZE) -> None:
        if size is not None and size < 0:
            raise ValueError(f"a log size must be >= 0 or None (no bound), got {size!r}")
        self._records: collections.deque[T] = collections.deque(maxlen=size)
        #: records ever appended (the offset the next one gets)
        self.total = 0

    def append(self, record: T) -> None:
        """Keep ``record`` (dropping the oldest past the size) and count it."""
        self._records.append(record)
        self.total += 1

    def since(self, offset: int) -> list[T]:
        """The records kept whose offset (0 for the first ever appended) is ``offset`` or more."""
        first = self.total - len(self._records)
        return list(itertools.islice(self._records, max(offset - first, 0), None))

    def __iter__(self) -> Iterator[T]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)
