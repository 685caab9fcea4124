"""Models and the converter: forward compatibility, timestamps, redaction."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from videoagent import ApiKeyCreated, APIResponseError, Project, ProjectStatus
from videoagent._converter import parse_datetime, structure


def project_json(**changes: Any) -> dict[str, Any]:
    """A project as the API sends it, with ``changes`` applied."""
    data: dict[str, Any] = {
        "id": "prj_abcdefgh12",
        "object": "project",
        "status": "queued",
        "mode": "autonomous",
        "brief": "a teaser",
        "agent_message": None,
        "error_message": None,
        "progress": None,
        "webhook_url": None,
        "metadata": {"team": "blue"},
        "has_result": False,
        "created_at": "2026-11-30T10:00:00Z",
        "updated_at": "2026-11-30T10:00:01.250+00:00",
    }
    data.update(changes)
    return data


def test_unknown_status_and_fields_do_not_crash() -> None:
    """A newer server's status and fields parse: UNKNOWN, raw kept, treated as active."""
    project = structure(project_json(status="thinking", shiny=True), Project, request_id="req_1")
    assert project.status is ProjectStatus.UNKNOWN
    assert project.raw_status == "thinking"
    assert project.raw["shiny"] is True
    assert project.status.is_active
    assert not project.status.is_terminal
    assert project.request_id == "req_1"


def test_timestamps_are_aware_utc() -> None:
    """ISO timestamps become aware datetimes, with or without an offset or a Z."""
    project = structure(project_json(), Project)
    assert project.created_at == datetime(2026, 11, 30, 10, tzinfo=timezone.utc)
    assert project.updated_at.tzinfo is not None
    assert parse_datetime("2026-11-30T10:00:00").tzinfo is timezone.utc
    assert parse_datetime("2026-11-30T11:00:00+01:00").utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "active", "terminal"),
    [
        ("queued", True, False),
        ("running", True, False),
        ("generating", True, False),
        ("rendering", True, False),
        ("idle", False, True),
        ("failed", False, True),
        ("cancelled", False, True),
    ],
)
def test_status_properties(status: str, active: bool, terminal: bool) -> None:
    """Each of the seven statuses is either active or terminal, as the contract says."""
    member = ProjectStatus(status)
    assert (member.is_active, member.is_terminal) == (active, terminal)


def test_wrong_shape_is_a_response_error() -> None:
    """An answer that lacks required fields says where, as an APIResponseError."""
    with pytest.raises(APIResponseError, match=r"\$\.created_at") as info:
        structure({"id": "prj_abcdefgh12", "status": "idle"}, Project, request_id="req_2")
    assert info.value.request_id == "req_2"


def test_equality_ignores_request_id_and_raw() -> None:
    """Two reads of the same state compare equal although their request ids differ."""
    first = structure(project_json(), Project, request_id="req_1")
    second = structure(project_json(extra=1), Project, request_id="req_2")
    assert first == second


def test_new_key_repr_redacts_the_secret() -> None:
    """A created key's repr shows at most es_live_ and the last four characters."""
    secret = "es_live_" + "a" * 28 + "WXYZ"
    created = structure(
        {
            "id": "key_abcdefgh",
            "name": "ci",
            "prefix": secret[:12],
            "created_at": "2026-11-30T10:00:00Z",
            "key": secret,
        },
        ApiKeyCreated,
    )
    assert created.key == secret
    assert secret not in repr(created)
    assert "es_live_…WXYZ" in repr(created)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"status": "idle", "has_result": True, "progress": 1, "agent_message": "done"},
        {"metadata": {}, "webhook_url": "https://example.com/hook", "error_message": "x"},
        {"metadata": {"team": "red"}},
        {"credits_warning": {"balance": 90, "threshold": 100}},
        {"progress": None, "brand_new_field": [1, 2]},
    ],
)
def test_fast_and_checked_paths_agree(changes: dict[str, Any]) -> None:
    """The direct Project path gives exactly what the generated cattrs path gives."""
    from videoagent._converter import _RAW_KEY, _REQUEST_ID_KEY, CONVERTER  # noqa: PLC0415 - private, here only

    data = project_json(**changes)
    fast = structure(data, Project, request_id="req_7")
    checked = CONVERTER.get_structure_hook(Project).__closure__[0].cell_contents  # type: ignore[union-attr]
    slow = checked({**data, _RAW_KEY: data, _REQUEST_ID_KEY: "req_7"}, Project)
    assert fast == slow
    assert (fast.request_id, fast.raw, fast.credits_warning) == (
        slow.request_id,
        slow.raw,
        slow.credits_warning,
    )
    assert fast.raw == data
    assert type(fast.progress) in (float, type(None))


@pytest.mark.parametrize(
    "text",
    ["2026-11-30T10:00:00.5Z", "2026-11-30T10:00:00.123456789+00:00", "2026-11-30T10:00:00.12Z"],
)
def test_any_fraction_length_parses(text: str) -> None:
    """Fractions of any length parse (Python 3.10's fromisoformat takes only 3 or 6 digits)."""
    parsed = parse_datetime(text)
    assert parsed.tzinfo is not None
    assert parsed.replace(microsecond=0) == datetime(2026, 11, 30, 10, tzinfo=timezone.utc)
