"""Helpers of the simulator's tests: HTTP calls whose every answer is checked
against the package's OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import aiohttp
import attrs
import yaml
from openapi_schema_validator import OAS30Validator

from videoagent.simulator import Simulator
from videoagent.simulator._http import STATUS_OF

#: headers every /v1 answer carries
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
#: The vendor's error table (vendor-docs.txt): the one HTTP status of each error code,
#: as the simulator holds it.
VENDOR_STATUS = STATUS_OF
#: Codes an answer may carry before its route is looked at (key, limit, body size, faults).
_BEFORE_ROUTING = frozenset(
    {"unauthorized", "rate_limited", "payload_too_large", "internal_error", "service_unavailable"}
)


@cache
def spec() -> dict[str, Any]:
    """The simulator's own OpenAPI document."""
    text = resources.files("videoagent.simulator").joinpath("openapi.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    """Inline every ``$ref`` (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target, root)
        return {key: _resolve(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, root) for item in node]
    return node


@cache
def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    root = spec()
    found = []
    for template, item in root["paths"].items():
        pattern = re.compile("^/v1" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, operation in item.items():
            if method in ("get", "post", "patch", "delete", "put"):
                found.append((pattern, method.upper(), _resolve(operation, root)))
    return found


def operation_of(method: str, path: str) -> dict[str, Any] | None:
    """The OpenAPI operation of ``method path`` (path with its /v1 prefix)."""
    for pattern, verb, operation in _operations():
        if verb == method and pattern.match(path):
            return operation
    return None


def check_response(
    method: str, path: str, status: int, headers: Mapping[str, str], body: Any, *, limited: bool
) -> None:
    """Assert that one answer conforms to the OpenAPI document and the contract's headers."""
    assert headers.get("X-Request-Id", "").startswith("req_"), headers
    if limited:
        for name in RATE_HEADERS:
            assert int(headers[name]) >= 0, (name, headers)
    if status in (429, 503):
        assert int(headers["Retry-After"]) >= 1, headers
    if status >= 400:
        error = _resolve({"$ref": "#/components/schemas/ErrorBody"}, spec())
        OAS30Validator(error).validate(body)
        assert body["error"]["request_id"] == headers["X-Request-Id"]
    if status >= 400:
        code = body["error"]["code"]
        assert VENDOR_STATUS[code] == status, f"{method} {path}: {code} answered {status}"
    operation = operation_of(method, path)
    if operation is None:  # no such path, or not with this method
        assert status >= 400, (method, path, status)
        code = body["error"]["code"]
        assert code == "not_found" or code in _BEFORE_ROUTING, (method, path, status, code)
        return
    answers = operation["responses"]
    if status in (500, 503) and str(status) not in answers:
        # the contract documents injected faults only on some operations
        assert body["error"]["message"].startswith("injected fault"), body
        return
    assert str(status) in answers, f"{method} {path}: {status} is not documented"
    content = answers[str(status)].get("content")
    if content is None:
        assert body is None or body == "", body
        return
    OAS30Validator(content["application/json"]["schema"]).validate(body)


@attrs.frozen
class Reply:
    """One answer: status, headers, and the parsed JSON body (None if empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        """The error code of an error answer."""
        if isinstance(self.body, dict) and "error" in self.body:
            code: str = self.body["error"]["code"]
            return code
        return None


class Api:
    """Calls the simulated API over HTTP and checks every answer against the document."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, api_key: str, *, limited: bool = True
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.api_key = api_key
        self.limited = limited

    def as_key(self, api_key: str) -> Api:
        """The same helper, authenticating with another key."""
        return Api(self.session, self.base_url, api_key, limited=self.limited)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Reply:
        """One request; the answer is validated before it is returned."""
        sent = {"Authorization": f"Bearer {self.api_key}"} if auth else {}
        sent.update(headers or {})
        async with self.session.request(
            method, self.base_url + path, json=json, data=data, params=params, headers=sent
        ) as answer:
            raw = await answer.read()
            body = None if not raw else await answer.json()
            url_path = answer.url.path
            check_response(
                method, url_path, answer.status, answer.headers, body, limited=self.limited
            )
            return Reply(answer.status, answer.headers, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        """GET ``path``."""
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """POST ``json`` to ``path``."""
        return await self.call("POST", path, json=json, **kwargs)

    async def create(self, brief: str = "a 20 s teaser", **fields: Any) -> dict[str, Any]:
        """Create a project, asserting 202; its body."""
        reply = await self.post("/projects", {"brief": brief, **fields})
        assert reply.status == 202, reply
        created: dict[str, Any] = reply.body
        return created

    async def project(self, project_id: str) -> dict[str, Any]:
        """GET one project, asserting 200; its body."""
        reply = await self.get(f"/projects/{project_id}")
        assert reply.status == 200, reply
        found: dict[str, Any] = reply.body
        return found


#: The ``make_api`` fixture: a new simulator (``Simulator(**options)``) and its checked API.
MakeApi = Callable[..., Awaitable[tuple[Simulator, "Api"]]]
