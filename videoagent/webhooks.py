"""Receiving the API's webhooks: verify, parse, refuse replays, then only ``notify``.

Framework-neutral: give :class:`WebhookVerifier` the request's headers and raw
body, whatever serves them (Starlette, Django, aiohttp.web)::

    verifier = WebhookVerifier(secret)
    try:
        event = verifier.verify(headers, body)
    except WebhookError as exc:
        return Response(status=exc.status)          # 400, 401, 409 or 413
    watcher.notify(event.project_id, status=event.status)  # a trigger only: the state
    return Response(status=204)                      # comes from GET /projects/{id}

A webhook is a trigger, never a source of state: the watcher polls the project
at once instead. The payload's ``status`` only lets the watcher skip a poll
when a GET already showed that very status.
:func:`aiohttp_app` and :func:`aiohttp_receiver` do all of this on aiohttp.web
(the CLI's ``--webhook-listen`` uses them); ``videoagent.integrations.fastapi``
does it on FastAPI.

**Time.** ``X-Webhook-Timestamp`` is unix seconds of the sender's wall clock
(the simulator stamps its ``clock.unix()``: real time, plus any ``advance()``).
The tolerance (default 300 s) is therefore wall-clock seconds and is *not*
multiplied by ``time_scale``: skew between two machines' clocks does not
shrink when the simulation runs faster, and a scaled 5 minutes (3 s at 0.01)
would be near the header's one-second resolution. A test that moves the
simulator's clock with ``advance(s)`` puts its stamps ``s * time_scale``
seconds ahead; pass a larger ``tolerance`` there.

**Replays.** The signature covers ``"<timestamp>.<body>"``, not the
``X-Webhook-Id`` header, so replays are refused by the *signed* event id in
the body (a header id that disagrees with it is refused too). Ids are
remembered for twice the tolerance, longer than any stamp stays acceptable;
the cache is bounded (``max_ids``): past it the oldest ids go first.

The secret never appears in a repr, a log line or an error, and refusals are
logged without the body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from ._arguments import check_id
from ._errors import InvalidRequestError, VideoAgentError

if TYPE_CHECKING:
    from ._watcher import ProjectWatcher

__all__ = [
    "DEFAULT_TOLERANCE",
    "ID_HEADER",
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookError",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookVerifier",
    "aiohttp_app",
    "aiohttp_handler",
    "aiohttp_receiver",
    "log_refusal",
    "parse_event",
    "sign",
    "verify_signature",
]

logger = logging.getLogger("videoagent.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
ID_HEADER = "X-Webhook-Id"
#: Seconds (wall clock) a webhook's timestamp may be away from ours.
DEFAULT_TOLERANCE = 300.0
#: Webhook bodies are a few hundred bytes; anything much larger is refused unread.
MAX_BODY_BYTES = 64 * 1024
_SCHEME = "v1"
#: Timestamps of 10**15 s or more (30 million years) are malformed, not merely stale.
_MAX_STAMP = 10**15
#: The longest event id, type or status read from a body (ids are remembered against replays).
_MAX_TEXT = 255


class WebhookError(VideoAgentError):
    """A webhook was refused.

    Attributes:
        status: the HTTP status to answer: 400 (missing or malformed headers or
            body), 401 (bad signature, or a timestamp outside the tolerance),
            409 (a replay), 413 (a body over :data:`MAX_BODY_BYTES`).
        reason: ``missing_header``, ``malformed``, ``bad_signature``, ``stale``,
            ``replayed`` or ``too_large``.
    """

    def __init__(self, message: str, *, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@attrs.frozen
class WebhookEvent:
    """A verified webhook: which project to look at (never what its state is).

    ``status`` is what the sender said; confirm it with ``GET /projects/{id}``
    (``watcher.notify``) before acting on it. ``raw`` is the parsed body.
    """

    id: str
    type: str
    project_id: str
    status: str | None
    created_at: datetime | None
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value: ``v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    return f"{_SCHEME}={_digest(secret, timestamp, body)}"


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return mac.hexdigest()


def verify_signature(
    secret: str | Iterable[str],
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a webhook's signature and timestamp; its timestamp (unix seconds) if good.

    ``secret`` may be several (during a rotation, or one app serving several
    accounts): any one matching is enough. ``signature`` may list several
    comma-separated ``v1=...`` values. Comparison is constant-time. Raises
    :class:`WebhookError`: 400 for a missing or malformed header, 401 for a
    wrong signature or a timestamp more than ``tolerance`` seconds from
    ``now`` (default: ``time.time()``).
    """
    if not timestamp or not signature:
        missing = TIMESTAMP_HEADER if not timestamp else SIGNATURE_HEADER
        raise WebhookError(f"{missing} is missing", status=400, reason="missing_header")
    try:
        stamp = int(timestamp.strip())
        if abs(stamp) >= _MAX_STAMP:  # absurd (and past float's range: no OverflowError later)
            raise ValueError(timestamp)
    except ValueError:
        raise WebhookError(
            f"{TIMESTAMP_HEADER} is not unix seconds", status=400, reason="malformed"
        ) from None
    offered = [
        value.strip()
        for scheme, _, value in (part.strip().partition("=") for part in signature.split(","))
        if scheme == _SCHEME
    ]
    if not offered:
        raise WebhookError(
            f"{SIGNATURE_HEADER} has no {_SCHEME}= signature", status=400, reason="malformed"
        )
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [_digest(s, timestamp.strip(), body) for s in secrets]
    # Every pair is compared (no early exit), each in constant time.
    matched = False
    for candidate in offered:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    if not matched:
        raise WebhookError("the signature does not match", status=401, reason="bad_signature")
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise WebhookError(
            f"the timestamp is {current - stamp:+.0f} s away (tolerance {tolerance:g} s)",
            status=401,
            reason="stale",
        )
    return stamp


def parse_event(body: bytes | str) -> WebhookEvent:
    """The event a webhook body describes; :class:`WebhookError` (400) if it is not one.

    Parse only a body whose signature was verified. Unknown event types and
    extra fields are accepted (a newer server may send them). Anything else
    unreadable is refused, never raised as another error: a body that is not
    UTF-8 JSON (``NaN`` and ``Infinity`` are not JSON), nested too deep to
    parse, not an object, or whose fields have the wrong type: ``id`` and
    ``type`` non-empty strings of at most 255 characters, ``project_id`` like
    ``prj_...``, ``status`` and ``created_at`` strings when present (a
    ``created_at`` that is not ISO 8601 is read as None).
    """
    try:
        text = body.decode() if isinstance(body, bytes) else body
        data = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise _malformed("the body is not UTF-8") from None
    except (ValueError, RecursionError):  # (RecursionError: nested too deep)
        raise _malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _malformed("the body is not a JSON object")
    fields = {name: data.get(name) for name in ("id", "type", "project_id")}
    bad = sorted(name for name, value in fields.items() if not _is_text(value, required=True))
    if bad:
        raise _malformed(f"the body lacks {', '.join(bad)} as a short non-empty string")
    project_id = data["project_id"]
    try:
        check_id(project_id, "prj", "project_id")
    except InvalidRequestError:
        raise _malformed("the body's project_id does not look like prj_...") from None
    wrong = sorted(name for name in ("status", "created_at") if not _is_text(data.get(name)))
    if wrong:
        raise _malformed(f"the body's {' and '.join(wrong)} is not a string")
    return WebhookEvent(
        id=data["id"],
        type=data["type"],
        project_id=project_id,
        status=data.get("status"),
        created_at=_parse_time(data.get("created_at")),
        raw=data,
    )


def _malformed(message: str) -> WebhookError:
    return WebhookError(message, status=400, reason="malformed")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _is_text(value: object, *, required: bool = False) -> bool:
    """A string of at most 255 characters, all encodable (no lone surrogate); or absent."""
    if value is None:
        return not required
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (required and not value):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class _SeenIds:
    """Event ids seen recently: a TTL cache bounded by count (oldest out first)."""

    def __init__(self, ttl: float, max_ids: int) -> None:
        self._ttl = ttl
        self._max = max_ids
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def add(self, event_id: str, now: float) -> bool:
        """Remember ``event_id``; False if it was already there (a replay)."""
        expiry = self._expiry
        while expiry and next(iter(expiry.values())) < now:  # kept through its last instant
            expiry.popitem(last=False)
        if event_id in expiry:
            return False
        expiry[event_id] = now + self._ttl
        while len(expiry) > self._max:
            expiry.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._expiry)


class WebhookVerifier:
    """Verifies webhooks and refuses replays: signature, timestamp, then event id.

    Args:
        secret: the account's webhook secret (or several: any one may match).
        tolerance: wall-clock seconds a timestamp may differ from ours (not
            scaled by ``time_scale``: see the module's docstring).
        max_ids: how many recent event ids are remembered against replays.
        clock: unix seconds now (for tests).
    """

    def __init__(
        self,
        secret: str | Iterable[str],
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        max_ids: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = (secret,) if isinstance(secret, str) else tuple(secret)
        if not self._secrets or not all(self._secrets):
            raise ValueError("a webhook secret must be a non-empty string")
        if not tolerance > 0:
            raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
        self.tolerance = tolerance
        self._clock = clock
        # Ids live longer than any timestamp stays acceptable (it can be
        # ``tolerance`` ahead of us, and ``tolerance`` behind).
        self._seen = _SeenIds(2 * tolerance, max_ids)

    def __repr__(self) -> str:
        return f"<WebhookVerifier secrets=*** tolerance={self.tolerance:g} seen={len(self._seen)}>"

    def verify(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The verified event of one request, or :class:`WebhookError`.

        ``headers`` is looked up case-insensitively when it is a plain dict.
        The id is remembered only once everything else checked out, so a
        forged request cannot block the real event.
        """
        if len(body) > MAX_BODY_BYTES:
            raise WebhookError("the body is too large", status=413, reason="too_large")
        get = _header_getter(headers)
        now = self._clock()
        verify_signature(
            self._secrets,
            body=body,
            timestamp=get(TIMESTAMP_HEADER),
            signature=get(SIGNATURE_HEADER),
            tolerance=self.tolerance,
            now=now,
        )
        event = parse_event(body)
        header_id = get(ID_HEADER)
        if header_id is not None and header_id != event.id:
            raise WebhookError(
                f"{ID_HEADER} does not match the signed event id", status=400, reason="malformed"
            )
        if not self._seen.add(event.id, now):
            raise WebhookError(
                f"event {event.id} was already received", status=409, reason="replayed"
            )
        return event


def _header_getter(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    if isinstance(headers, dict):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        return lambda name: lowered.get(name.lower())
    return headers.get  # multidict / Starlette Headers: already case-insensitive


def log_refusal(error: WebhookError, *, remote: str | None, webhook_id: str | None) -> None:
    """Log a refused webhook: the reason and who sent it, never the body or the secret."""
    shown = webhook_id[:64] if webhook_id else None
    logger.warning(
        "webhook refused (%s, HTTP %d) from %s, %s=%r: %s",
        error.reason,
        error.status,
        remote or "?",
        ID_HEADER,
        shown,
        error,
    )


# -- aiohttp.web -------------------------------------------------------------------


def aiohttp_handler(
    watcher: ProjectWatcher, verifier: WebhookVerifier
) -> Callable[[web.Request], Any]:
    """An aiohttp.web handler: verify, ``watcher.notify(project_id)``, answer 204."""

    async def receive(request: web.Request) -> web.Response:
        body = bytearray()
        while len(body) <= MAX_BODY_BYTES and (chunk := await request.content.read(1 << 16)):
            body += chunk
        try:
            event = verifier.verify(request.headers, bytes(body))  # 413 past the cap
        except WebhookError as exc:
            log_refusal(exc, remote=request.remote, webhook_id=request.headers.get(ID_HEADER))
            return web.Response(status=exc.status, text=exc.reason)
        watcher.notify(event.project_id, status=event.status)
        return web.Response(status=204)

    return receive


def aiohttp_app(
    watcher: ProjectWatcher,
    secret: str | Iterable[str],
    *,
    path: str = "/webhooks/videoagent",
    tolerance: float = DEFAULT_TOLERANCE,
) -> web.Application:
    """An aiohttp.web application receiving webhooks at ``POST path`` for ``watcher``.

    Mount it in your own app with ``app.add_subapp(...)``, or serve it with
    :func:`aiohttp_receiver`.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    handler = aiohttp_handler(watcher, WebhookVerifier(secret, tolerance=tolerance))
    app.router.add_post(path, handler)
    return app


@attrs.frozen
class WebhookReceiver:
    """A running :func:`aiohttp_receiver`: pass ``url`` as ``webhook_url`` when creating."""

    url: str
    host: str
    port: int


@contextlib.asynccontextmanager
async def aiohttp_receiver(
    watcher: ProjectWatcher,
    secret: str | Iterable[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/webhooks/videoagent",
    public_url: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> AsyncGenerator[WebhookReceiver, None]:
    """Serve :func:`aiohttp_app` on ``host:port`` (0: a free port) while the block runs.

    Example (the CLI's ``--webhook-listen``)::

        async with aiohttp_receiver(watcher, secret, port=8080) as receiver:
            await client.projects.create(brief, webhook_url=receiver.url)

    ``public_url`` is the URL the API should call, when it is not
    ``http://host:port/path`` (behind a proxy or tunnel).
    """
    runner = web.AppRunner(
        aiohttp_app(watcher, secret, path=path, tolerance=tolerance),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        await web.SockSite(runner, sock).start()
        bound: int = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = public_url or f"http://{shown}:{bound}{path}"
        yield WebhookReceiver(url=url, host=host, port=bound)
    finally:
        await runner.cleanup()
