"""What ``inspect.signature`` (``help()``, a notebook's tooltip) shows for a wrapped method.

The raw-answer methods (``_raw``) and the blocking client's (``_blocking``)
are made at runtime around the async methods: type checkers read their
``ParamSpec`` types, but ``inspect`` would see ``(*args, **kwargs)``, or
follow ``__wrapped__`` to the async method and show its return type. Each
wrapper gets the wrapped method's parameters and the return type it really
has instead, worked out once per method of a class (not per client: a
``with_options`` copy makes its wrappers anew).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

__all__ = ["as_iterator", "as_raw_response", "signature_like", "unchanged"]


def unchanged(returns: str) -> str:
    """The return type as it is (a blocking call returns what its coroutine does)."""
    return returns


def as_raw_response(returns: str) -> str:
    """``RawResponse[...]`` of the return type."""
    return f"RawResponse[{returns}]"


def as_iterator(returns: str) -> str:
    """``AsyncIterator[X]`` as ``Iterator[X]`` (a blocking client's ``list``, ``messages``)."""
    head = "AsyncIterator["
    return "Iterator[" + returns[len(head) :] if returns.startswith(head) else returns


def signature_like(
    method: Callable[..., object], returns: Callable[[str], str]
) -> inspect.Signature:
    """``method``'s parameters, its return annotation (as text) rewritten by ``returns``.

    ``method`` is a bound method of a class (its signature is worked out once
    per class function and kept), or a wrapper already given one here.
    """
    function = getattr(method, "__func__", None)
    if function is not None:
        return _of_class_function(function, returns)
    return _rewritten(inspect.signature(method), returns)


@functools.cache
def _of_class_function(
    function: Callable[..., object], returns: Callable[[str], str]
) -> inspect.Signature:
    signature = inspect.signature(function)
    _, *parameters = signature.parameters.values()  # (self)
    return _rewritten(signature.replace(parameters=parameters), returns)


def _rewritten(signature: inspect.Signature, returns: Callable[[str], str]) -> inspect.Signature:
    return signature.replace(return_annotation=returns(_text(signature.return_annotation)))


def _text(annotation: object) -> str:
    """An annotation as text (this package's are: ``from __future__ import annotations``)."""
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
