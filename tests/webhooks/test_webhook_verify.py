"""``videoagent.webhooks``: signatures, timestamps, parsing and replays, framework-neutral."""

from __future__ import annotations

import json
import logging
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from videoagent import VideoAgentError
from videoagent.simulator import sign as simulator_sign
from videoagent.webhooks import (
    DEFAULT_TOLERANCE,
    MAX_BODY_BYTES,
    WebhookError,
    WebhookEvent,
    WebhookVerifier,
    log_refusal,
    parse_event,
    sign,
    verify_signature,
)

SECRET = "whsec_test_0123456789abcdef"
NOW = 1_900_000_000


def _body(event_id: str = "evt_1", project_id: str = "prj_1", **extra: object) -> bytes:
    event = {
        "id": event_id,
        "type": "project.status_changed",
        "project_id": project_id,
        "status": "running",
        "created_at": "2030-03-17T10:00:00Z",
        **extra,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _headers(body: bytes, stamp: int = NOW, secret: str = SECRET, **extra: str) -> dict[str, str]:
    event_id = json.loads(body)["id"]
    return {
        "X-Webhook-Id": event_id,
        "X-Webhook-Timestamp": str(stamp),
        "X-Webhook-Signature": sign(secret, str(stamp), body),
        **extra,
    }


def _verifier(**options: object) -> WebhookVerifier:
    return WebhookVerifier(SECRET, clock=lambda: float(NOW), **options)


def test_signatures_match_what_the_simulator_sends() -> None:
    """Our ``sign`` and the simulator's agree byte for byte (neither imports the other)."""
    body = _body()
    assert sign(SECRET, "123", body) == simulator_sign(SECRET, "123", body)


def test_a_good_signature_verifies_and_returns_its_timestamp() -> None:
    """A signature made with the secret over ``timestamp.body`` passes and gives the stamp."""
    body = _body()
    stamp = verify_signature(
        SECRET, body=body, timestamp=str(NOW), signature=sign(SECRET, str(NOW), body), now=NOW
    )
    assert stamp == NOW


@pytest.mark.parametrize(
    ("timestamp", "signature", "status", "reason"),
    [
        (None, "v1=00", 400, "missing_header"),
        (str(NOW), None, 400, "missing_header"),
        ("yesterday", "v1=00", 400, "malformed"),
        (str(NOW), "sha256=00", 400, "malformed"),
        (str(NOW), "v1=" + "0" * 64, 401, "bad_signature"),
        (str(NOW + 1), "GOOD", 401, "bad_signature"),  # the stamp is signed too
    ],
)
def test_bad_headers_are_refused_with_their_reason(
    timestamp: str | None, signature: str | None, status: int, reason: str
) -> None:
    """Missing, malformed and wrong headers each raise a WebhookError with status and reason."""
    body = _body()
    if signature == "GOOD":
        signature = sign(SECRET, str(NOW), body)
    with pytest.raises(WebhookError) as caught:
        verify_signature(SECRET, body=body, timestamp=timestamp, signature=signature, now=NOW)
    assert (caught.value.status, caught.value.reason) == (status, reason)
    assert isinstance(caught.value, VideoAgentError)


def test_one_changed_byte_of_the_body_breaks_the_signature() -> None:
    """The body is covered: changing the status in it fails verification."""
    body = _body()
    signature = sign(SECRET, str(NOW), body)
    forged = body.replace(b"running", b"idle")
    with pytest.raises(WebhookError, match="does not match"):
        verify_signature(SECRET, body=forged, timestamp=str(NOW), signature=signature, now=NOW)


@pytest.mark.parametrize("offset", [-DEFAULT_TOLERANCE - 1, DEFAULT_TOLERANCE + 1])
def test_stamps_outside_the_tolerance_are_stale(offset: float) -> None:
    """A correctly signed webhook more than 5 minutes old (or ahead) is refused with 401."""
    body = _body()
    stamp = str(int(NOW + offset))
    with pytest.raises(WebhookError) as caught:
        verify_signature(
            SECRET, body=body, timestamp=stamp, signature=sign(SECRET, stamp, body), now=NOW
        )
    assert (caught.value.status, caught.value.reason) == (401, "stale")


def test_stamps_at_the_edge_of_the_tolerance_pass() -> None:
    """Exactly ``tolerance`` seconds away still passes; the tolerance is a parameter."""
    body = _body()
    stamp = str(NOW - 300)
    signature = sign(SECRET, stamp, body)
    verify_signature(SECRET, body=body, timestamp=stamp, signature=signature, now=NOW)
    with pytest.raises(WebhookError, match="tolerance 10 s"):
        verify_signature(
            SECRET, body=body, timestamp=stamp, signature=signature, now=NOW, tolerance=10
        )


def test_any_of_several_secrets_and_signatures_may_match() -> None:
    """During a rotation either secret verifies, and a header may carry several v1 values."""
    body = _body()
    new_signature = sign("whsec_new", str(NOW), body)
    both = f"v1=deadbeef, {new_signature}"
    stamp = verify_signature(
        [SECRET, "whsec_new"], body=body, timestamp=str(NOW), signature=both, now=NOW
    )
    assert stamp == NOW


def test_parse_event_reads_the_trigger_and_keeps_unknown_fields() -> None:
    """The event's id, type, project and claimed status are read; extra fields stay in raw."""
    event = parse_event(_body(colour="blue"))
    assert (event.id, event.type, event.project_id, event.status) == (
        "evt_1",
        "project.status_changed",
        "prj_1",
        "running",
    )
    assert event.created_at is not None
    assert event.created_at.year == 2030
    assert event.raw["colour"] == "blue"


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}', b'{"id": 1}']
)
def test_parse_event_refuses_what_is_not_an_event(body: bytes) -> None:
    """Non-JSON, non-objects and events without id, type or project_id are 400 malformed."""
    with pytest.raises(WebhookError) as caught:
        parse_event(body)
    assert (caught.value.status, caught.value.reason) == (400, "malformed")


def test_the_verifier_refuses_a_replay_by_its_signed_event_id() -> None:
    """The same event twice is a 409 replay, with the header id, a new one, or none."""
    verifier = _verifier()
    body = _body("evt_once")
    headers = _headers(body)
    assert verifier.verify(headers, body).project_id == "prj_1"
    with pytest.raises(WebhookError) as caught:
        verifier.verify(headers, body)
    assert (caught.value.status, caught.value.reason) == (409, "replayed")
    with pytest.raises(WebhookError, match="does not match the signed event id"):
        verifier.verify({**headers, "X-Webhook-Id": "evt_other"}, body)
    without_id = {k: v for k, v in headers.items() if k != "X-Webhook-Id"}
    with pytest.raises(WebhookError, match="already received"):
        verifier.verify(without_id, body)


@pytest.mark.parametrize("later", [0.0, 300.0, 599.0, 600.0, 600.5])
def test_a_replay_is_refused_for_as_long_as_its_timestamp_is_acceptable(later: float) -> None:
    """An event stamped ``tolerance`` ahead, replayed up to the last instant its stamp passes."""
    now = [float(NOW)]
    verifier = WebhookVerifier(SECRET, tolerance=300, clock=lambda: now[0])
    body = _body("evt_edge")
    headers = _headers(body, stamp=NOW + 300)
    verifier.verify(headers, body)
    now[0] += later
    with pytest.raises(WebhookError) as caught:
        verifier.verify(headers, body)
    assert caught.value.reason == ("replayed" if later <= 600 else "stale")


def test_a_forged_request_does_not_block_the_real_event() -> None:
    """Ids are remembered only after the signature checks, so a forgery cannot pre-empt one."""
    verifier = _verifier()
    body = _body("evt_real")
    with pytest.raises(WebhookError, match="does not match"):
        verifier.verify(_headers(body, secret="whsec_attacker"), body)
    assert verifier.verify(_headers(body), body).id == "evt_real"


def test_remembered_ids_expire_and_are_bounded() -> None:
    """Ids are kept twice the tolerance, and only the newest ``max_ids`` of them."""
    now = [float(NOW)]
    verifier = WebhookVerifier(SECRET, tolerance=10, max_ids=2, clock=lambda: now[0])
    for event_id in ("evt_a", "evt_b", "evt_c"):
        body = _body(event_id)
        verifier.verify(_headers(body, stamp=int(now[0])), body)
    assert "seen=2" in repr(verifier)  # evt_a was pushed out by the bound
    now[0] += 21  # past 2 x tolerance: every id expired
    body = _body("evt_d")
    verifier.verify(_headers(body, stamp=int(now[0])), body)
    assert "seen=1" in repr(verifier)


def test_headers_are_case_insensitive_and_bodies_are_capped() -> None:
    """Lower-case header names work in a plain dict; a body over the cap is 413 unread."""
    verifier = _verifier()
    body = _body("evt_lower")
    lower = {k.lower(): v for k, v in _headers(body).items()}
    assert verifier.verify(lower, body).id == "evt_lower"
    with pytest.raises(WebhookError) as caught:
        verifier.verify(lower, b"x" * (MAX_BODY_BYTES + 1))
    assert caught.value.status == 413


def test_the_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    """Neither the verifier's repr, its errors nor the refusal log hold the secret or body."""
    verifier = _verifier()
    body = _body("evt_secret", project_id="prj_privatebody")
    bad = _headers(body, secret="whsec_other")
    assert SECRET not in repr(verifier)
    with caplog.at_level(logging.WARNING, logger="videoagent.webhooks"):
        for headers in (bad, {**bad, "X-Webhook-Timestamp": "0"}, {}):
            with pytest.raises(WebhookError) as caught:
                verifier.verify(headers, body)
            assert SECRET not in str(caught.value)
            assert SECRET not in repr(caught.value)
            log_refusal(caught.value, remote="127.0.0.1", webhook_id=headers.get("X-Webhook-Id"))
    assert len(caplog.records) == 3
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert "prj_privatebody" not in record.getMessage()


def test_the_verifier_checks_its_own_settings() -> None:
    """An empty secret or a tolerance that is not positive is refused at once."""
    with pytest.raises(ValueError, match="non-empty"):
        WebhookVerifier("")
    with pytest.raises(ValueError, match="tolerance"):
        WebhookVerifier(SECRET, tolerance=0)


def test_the_default_clock_is_the_wall_clock() -> None:
    """Without a clock, a webhook stamped now (real unix seconds) verifies."""
    verifier = WebhookVerifier(SECRET)
    body = _body("evt_now")
    assert verifier.verify(_headers(body, stamp=int(time.time())), body).id == "evt_now"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)  # NaN and Infinity: not JSON
    | st.text(max_size=30)
    | st.sampled_from(["", "prj_", "prj_abc123", "prj_a/b", "evt_1", "2030-02-30T00:00:00Z"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
#: Objects with the event's own fields (each of any JSON value), beside arbitrary values.
event_like = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(("id", "type", "project_id", "status", "created_at"), json_values),
)
nested = st.builds(
    lambda depth, brackets: (brackets[0] * depth + brackets[1] * depth).encode(),
    st.integers(min_value=1, max_value=10_000),  # (a body of at most 64 KiB)
    st.sampled_from([("[", "]"), ('{"a":', "}")]),
)
bodies = (
    st.one_of(json_values, event_like).map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
    | nested
)


@settings(max_examples=400, deadline=None)
@given(body=bodies)
@example(body=b"[" * 40_000)
@example(body=b'{"id": "evt_1", "type": "t", "project_id": "prj_1", "status": NaN}')
@example(body=b'{"id": "evt_1", "type": "t", "project_id": "prj_1", "n": 1' + b"0" * 5000 + b"}")
@example(body=b'{"id": "\\ud800", "type": "t", "project_id": "prj_1"}')
@example(body=b'{"id": "evt_1", "type": "t", "project_id": "prj_1"}\xff')
@example(body=b'{"id": "evt_1", "type": "t", "project_id": "../account"}')
@example(body=b'{"id": "evt_1", "type": "t", "project_id": "prj_1", "created_at": 1e400}')
def test_a_signed_body_is_an_event_or_a_400(body: bytes) -> None:
    """Any correctly signed body gives a well-formed event or a 400 WebhookError, nothing else."""
    headers = {"X-Webhook-Timestamp": str(NOW), "X-Webhook-Signature": sign(SECRET, str(NOW), body)}
    outcome: WebhookEvent | WebhookError
    try:
        outcome = _verifier().verify(headers, body)
    except WebhookError as exc:
        outcome = exc
    if isinstance(outcome, WebhookError):
        assert (outcome.status, outcome.reason) == (400, "malformed")
        return
    event = outcome
    assert event.status == event.raw.get("status")  # a string, or absent: never dropped
    assert isinstance(event.raw.get("created_at"), (str, type(None)))
    assert event.project_id.startswith("prj_")
    assert event.project_id[4:].isalnum()
    assert event.project_id.isascii()
    for text in (event.id, event.type, event.status or "x"):
        assert isinstance(text, str)
        assert 0 < len(text) <= 255
        text.encode()  # no lone surrogate
