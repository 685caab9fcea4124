"""Frozen views for tests and benchmarks: the request log, stats, project snapshots."""

from __future__ import annotations

import attrs

__all__ = ["DownloadRecord", "ProjectSnapshot", "RequestRecord", "SimulatorStats"]


@attrs.frozen
class RequestRecord:
    """One request the server saw under ``/v1``.

    Attributes:
        at: unix seconds of its arrival (simulator clock).
        account: the account id (``acct_...``), None if it did not authenticate.
        method, path: as received (path without the query).
        status: the HTTP status answered, None when the connection was dropped.
        code: the error code of an error answer, else None.
        request_id: its ``X-Request-Id``.
        fault: the injected fault, if any.
        counted: whether it counted against the request limit.
    """

    at: float
    account: str | None
    method: str
    path: str
    status: int | None
    code: str | None
    request_id: str
    fault: str | None
    counted: bool


@attrs.frozen
class DownloadRecord:
    """One request to the file server (result downloads).

    Attributes:
        at: unix seconds of the answer (simulator clock).
        path: the file path (without the signed query).
        status: 200, 206, 400 (sent an Authorization header), 404, 410 or 416.
        authorization: whether the request carried an ``Authorization`` header.
        range: its ``Range`` header, if any.
    """

    at: float
    path: str
    status: int
    authorization: bool
    range: str | None


@attrs.frozen
class SimulatorStats:
    """A summary of what the server saw (of one account, or of all of them).

    Attributes:
        accounts: accounts summarised.
        requests: requests counted against the request limit.
        max_window_requests: most requests ever counted in one sliding window
            of one account (never above the limit).
        max_active_projects: most projects of one account active at once.
        rate_limited: 429 ``rate_limited`` answers (request and render limits).
        project_limit: 429 ``project_limit`` answers (active and daily limits).
        projects_created: projects created (a 200 replay creates none).
        renders_started: renders started by ``POST /render``.
        faults_injected: injected faults (all accounts).
        webhooks_sent: webhook POSTs made, answered or not (all accounts).
    """

    accounts: int
    requests: int
    max_window_requests: int
    max_active_projects: int
    rate_limited: int
    project_limit: int
    projects_created: int
    renders_started: int
    faults_injected: int
    webhooks_sent: int


@attrs.frozen
class ProjectSnapshot:
    """A project as the simulator holds it right now.

    ``history`` lists every status it entered, with the unix time it did
    (simulator clock), oldest first: the realised durations of its phases.
    """

    id: str
    account: str
    status: str
    mode: str
    brief: str
    has_result: bool
    metadata: dict[str, str]
    idempotency_key: str | None
    runs: int
    renders: int
    history: tuple[tuple[str, float], ...] = ()
