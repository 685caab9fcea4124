"""Prefixed, seeded identifiers: the same seed and the same requests give the same ids."""

from __future__ import annotations

import itertools
import random
import string

__all__ = ["IdFactory"]

_ALPHABET = string.ascii_letters + string.digits


class IdFactory:
    """Makes ``prj_``, ``msg_``, ``key_``, ``evt_``, ``req_`` ids and key secrets."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed)
        self._requests = itertools.count(1)

    def token(self, length: int) -> str:
        """``length`` random alphanumerics from the seeded generator."""
        return "".join(self._random.choices(_ALPHABET, k=length))

    def make(self, prefix: str, length: int = 16) -> str:
        """A new id such as ``prj_`` followed by ``length`` alphanumerics."""
        return f"{prefix}_{self.token(length)}"

    def secret(self) -> str:
        """A new API key: ``es_live_`` and 32 alphanumerics."""
        return f"es_live_{self.token(32)}"

    def request_id(self) -> str:
        """A new request id (a counter: cheap, unique, ordered)."""
        return f"req_{next(self._requests):012d}"
