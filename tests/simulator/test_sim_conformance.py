"""Conformance: a bounded, seeded schemathesis run against the running simulator.

Every operation of the package's OpenAPI document gets generated requests,
valid and invalid, against random ids and against real projects; no answer
may be a 5xx, an undocumented status, or break its schema or headers.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from multidict import CIMultiDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sim_helpers import check_response

from videoagent.simulator import BackgroundSimulator

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 12  # per operation and mode: a few hundred requests in all


@pytest.fixture(scope="module")
def served() -> Iterator[BackgroundSimulator]:
    """A simulator without request limits, with an idle project that has a result."""
    with BackgroundSimulator(
        time_scale=0.01, seed=13, request_limit=None, active_limit=None, projects_per_day=None
    ) as sim:
        yield sim


def _schema() -> Any:
    path = resources.files("videoagent.simulator").joinpath("openapi.yaml")
    return schemathesis.openapi.from_path(str(path))


def _project(sim: BackgroundSimulator, key: str) -> str:
    request = urllib.request.Request(
        sim.base_url + "/projects",
        data=json.dumps({"brief": "conformance"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        project_id: str = json.load(answer)["id"]
    sim.advance(1500)
    return project_id


OPERATIONS = [result.ok() for result in _schema().get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_conforms(served: BackgroundSimulator, operation: Any, mode: Any) -> None:
    """Generated requests to one operation get documented, schema-valid, non-5xx answers."""
    key = served.add_account(credits=1_000_000, plan="pro")
    real = _project(served, key)
    headers = {"Authorization": f"Bearer {key}"}
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    strategies = [operation.as_strategy(generation_mode=mode, headers=headers)]
    if "{project_id}" in operation.path:
        strategies.append(
            operation.as_strategy(
                generation_mode=mode, headers=headers, path_parameters={"project_id": real}
            )
        )
    with requests.Session() as session:
        for strategy in strategies:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                case.headers = {**(case.headers or {}), **headers}
                response = case.call(base_url=served.base_url, session=session, timeout=10)
                case.validate_response(response, checks=checks, headers=headers)
                check_response(
                    case.method.upper(),
                    urlsplit(response.request.url).path,
                    response.status_code,
                    CIMultiDict((k, v) for k, values in response.headers.items() for v in values),
                    json.loads(response.content) if response.content else None,
                    limited=False,
                )

            try:
                run()
            except Unsatisfiable:
                # nothing of this operation can be made invalid (fixed path, no body or query)
                assert mode == GenerationMode.NEGATIVE
