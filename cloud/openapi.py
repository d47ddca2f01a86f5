"""The collector API's OpenAPI 3.0 document, complete enough for a client generator or a fuzzer: every
path with its parameters, request body and responses. Served as JSON at /api/openapi.json.

The summaries come from the handlers' docstrings (one place for the words); the shapes of what each
write takes are declared here, beside the routes' table, because Starlette's generator knows only what
docstrings say.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from starlette.routing import BaseRoute, Route

from cloud.alarm_lifecycle import ACTIONS
from cloud.auth import ROLES
from devices.protocol import COMMAND_ACTIONS

__all__ = ["openapi_document"]

_TEXT: Final = {"type": "string", "maxLength": 500}
_ERROR: Final = {"type": "object", "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                                                 "params": {"type": "object"}}, "required": ["error", "code"]}
_ANY_OBJECT: Final = {"type": "object", "additionalProperties": True}
_VALUE: Final = {"oneOf": [{"type": "boolean"}, {"type": "number"}, {"type": "string"}]}

BODIES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("POST", "/api/login"): {"type": "object", "required": ["user", "password"], "properties": {
        "user": {"type": "string", "maxLength": 64}, "password": {"type": "string", "maxLength": 256},
        "token": {"type": "boolean"}}},
    ("POST", "/api/alarms/{id}/actions"): {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)}, "notes": _TEXT,
        "disposition": {"type": "object", "properties": {"result": _TEXT, "notes": _TEXT}}}},
    ("POST", "/api/alarms/actions"): {"type": "object", "required": ["ids", "action"], "properties": {
        "ids": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"type": "integer", "minimum": 1}},
        "action": {"type": "string", "enum": [a for a in ACTIONS if a != "close"]}, "notes": _TEXT}},
    ("POST", "/api/alarms/{id}/mute"): {"type": "object", "required": ["how", "minutes", "reason"], "properties": {
        "how": {"type": "string", "enum": ["silence", "shelve"]},
        "minutes": {"type": "number", "minimum": 1, "maximum": 1440}, "reason": _TEXT}},
    ("POST", "/api/commands"): {"type": "object", "required": ["site", "gateway", "action"], "properties": {
        "site": {"type": "string"}, "gateway": {"type": "string"},
        "action": {"type": "string", "enum": list(COMMAND_ACTIONS)}, "device": {"type": "string"},
        "point": {"type": "string"}, "value": _VALUE, "key": {"type": "string"},
        "expires_in": {"type": "number", "minimum": 5, "maximum": 3600},
        "override": {"type": "object", "required": ["reason"], "properties": {"reason": _TEXT}}}},
    ("POST", "/api/tickets/{id}/close"): {"type": "object", "required": ["notes"], "properties": {"notes": _TEXT}},
    ("POST", "/api/tickets/{id}/defer"): {"type": "object", "required": ["reason"], "properties": {"reason": _TEXT}},
    ("POST", "/api/users"): {"type": "object", "required": ["name", "password", "role"], "properties": {
        "name": {"type": "string", "pattern": r"^[\w.@-]{1,64}$"},
        "password": {"type": "string", "minLength": 8, "maxLength": 256},
        "role": {"type": "string", "enum": list(ROLES)}}},
    ("POST", "/api/handovers"): {"type": "object", "required": ["note"], "properties": {
        "note": {"type": "string", "minLength": 1, "maxLength": 2000}}},
    ("POST", "/api/handovers/{id}/accept"): {"type": "object", "properties": {
        "note": {"type": "string", "maxLength": 2000}}},
    ("POST", "/api/duty-checks"): {"type": "object", "properties": {
        "within_s": {"type": "number", "minimum": 10, "maximum": 600}}},
    ("POST", "/api/users/{name}"): {"type": "object", "properties": {
        "password": {"type": "string", "minLength": 8, "maxLength": 256},
        "role": {"type": "string", "enum": list(ROLES)}}},
}
QUERIES: Final[dict[tuple[str, str], list[dict[str, Any]]]] = {
    ("GET", "/api/alarms"): [{"name": "all", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
    ("GET", "/api/tickets"): [{"name": "overdue", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
    ("GET", "/api/audit"): [*({"name": k, "in": "query", "schema": {"type": "string", "maxLength": 200}}
                              for k in ("who", "action", "text")),
                            *({"name": k, "in": "query", "schema": {"type": "number"}} for k in ("since", "until")),
                            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                         "maximum": 1000}}],
    ("GET", "/api/readiness/ranking"): [{"name": "month", "in": "query",
                                          "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}}],
    **{("GET", path): [{"name": "month", "in": "query", "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}}]
       for path in ("/api/reports/streets", "/api/reports/streets.xlsx", "/api/reports/streets.pdf")},
    ("GET", "/api/readiness/history"): [{"name": "month", "in": "query",
                                          "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}}],
    ("GET", "/api/sites/{site}/devices/{id}"): [{"name": "hours", "in": "query",
                                                 "schema": {"type": "number", "minimum": 0, "maximum": 168}}],
}
_PUBLIC: Final = {("POST", "/api/login")}
_CREATED: Final = {("POST", "/api/users"): "201", ("POST", "/api/commands"): "202", ("POST", "/api/handovers"): "201",
                   ("POST", "/api/duty-checks"): "201"}


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema or not route.path.startswith("/api/"):
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            key = (method, route.path)
            paths.setdefault(route.path, {})[method.lower()] = _operation(key, route)
    return {"openapi": "3.0.3", "info": {"title": "firefleet collector", "version": "0.1"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                               "cookie": {"type": "apiKey", "in": "cookie", "name": "ff_session"}},
                           "schemas": {"Error": _ERROR}},
            "security": [{"bearer": []}, {"cookie": []}], "paths": paths}


def _operation(key: tuple[str, str], route: Route) -> dict[str, Any]:
    method, path = key
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in route.param_convertors]
    operation: dict[str, Any] = {
        "summary": _summary(route.endpoint.__doc__ or ""),
        "operationId": method.lower() + path.removeprefix("/api").replace("/", "_").replace("{", "").replace("}", ""),
        "parameters": params + QUERIES.get(key, []),
        "responses": {_CREATED.get(key, "200"): {"description": "done",
                                                 "content": {"application/json": {"schema": _ANY_OBJECT}}}
                      if path != "/api/stream" else {"description": "server-sent events",
                                                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      **{code: {"description": why, "content": {"application/json": {"schema": _ERROR}}}
                         for code, why in _errors(method, key)}},
    }
    if key in BODIES:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": BODIES[key]}}}
    if key in _PUBLIC:
        operation["security"] = []
    return operation


def _errors(method: str, key: tuple[str, str]) -> list[tuple[str, str]]:
    codes = [("400", "a bad request, with the reason"), ("404", "no such item")]
    if key not in _PUBLIC:
        codes += [("401", "sign in first"), ("403", "this role may not")]
    else:
        codes.append(("429", "too many failed logins from this address"))
    if method == "POST":
        codes += [("409", "refused by the alarm's or ticket's state"), ("413", "body over 64 KiB"),
                  ("422", "a write its point does not take")]
    return codes


def _summary(doc: str) -> str:
    lines = [line.strip() for line in doc.strip().splitlines()]
    text = " ".join(line for line in lines if line)
    return text.removeprefix("summary:").strip()

