"""What every endpoint of the collector's API shares: the context it runs in, the `endpoint` wrapper that
checks the caller's session and role and turns refusals into JSON, and the request readers (bounded
body, ids, months, tokens). A handler is `async def name(request, api, session) -> Response`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloud.auth import Auth, Session, may
from cloud.event_hub import EventHub
from cloud.notify_plan import NotifyPlan
from cloud.site_list import SiteList
from cloud.store import Store
from devices.contract import Command
from devices.errors import ActionRefused
from devices.labels import Labels, load_labels
from devices.profile import Profile

__all__ = ["COOKIE", "XLSX", "Api", "CommandSender", "HttpError", "attachment", "endpoint", "month_param", "over_tls",
           "parse_json", "path_id", "read_body", "read_raw", "refusal", "session_of", "token_of"]

T = TypeVar("T")

COOKIE = "ff_session"
MAX_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]
CommandSender = Callable[[str, str, Command, float], Awaitable[None]]
Endpoint = Callable[[Request, "Api", Session | None], Awaitable[Response]]


class HttpError(Exception):
    """A refused request: `reason` in English, `code` for the console to word it in its reader's language
    (cloud/console/js/i18n.js, "error.<code>"), `params` to fill it in."""

    def __init__(self, status: int, reason: str, code: str, **params: Any) -> None:
        self.status, self.reason, self.code, self.params = status, reason, code, params

    @classmethod
    def of(cls, status: int, refused: ActionRefused) -> HttpError:
        return cls(status, str(refused), refused.code, **refused.params)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(body: bytes, media_type: str, name: str) -> Response:
    """A file to download (an export or a report), under `name`."""
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def refusal(reason: str, code: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The body of every refusal: {"error": reason, "code": code, "params": {...}}."""
    return {"error": reason, "code": code, "params": dict(params or {})}


@dataclass(frozen=True)
class Api:
    """What the handlers work with (kept in the application's state)."""

    store: Store
    auth: Auth
    hub: EventHub
    send_command: CommandSender
    inventory: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    readers: Callable[[Callable[[Store], Any]], Awaitable[Any]] | None = None  # cloud.store.readers
    writer: Callable[[Callable[[Store], Any]], Awaitable[Any]] | None = None  # cloud.store.writer
    site_list: SiteList = field(default_factory=lambda: SiteList({}))  # one read model for every console
    labels: Labels = field(default_factory=load_labels)  # what people read for points and events
    notify_plan: NotifyPlan | None = None  # who is told about unanswered alarms (cloud.notify_plan)
    live: Callable[[], dict[str, Any]] = dict  # this process's own counts, for /metrics (cloud.main)

    async def read(self, query: Callable[[Store], T]) -> T:
        """A read off the event loop (on a reader thread) where the collector has readers; else here."""
        if self.readers is None:
            return query(self.store)
        result: T = await self.readers(query)
        return result

    async def write(self, change: Callable[[Store], T]) -> T:
        """A write on the collector's writer thread, in order with ingest's; else here."""
        if self.writer is None:
            return change(self.store)
        result: T = await self.writer(change)
        return result


def endpoint(permission: str | None = None, *, public: bool = False) -> Callable[[Endpoint], Handler]:
    """A Starlette handler from ours: the session checked (unless public), the role's permission checked,
    and every refusal a JSON `{"error": reason}` with its status."""
    def wrap(fn: Endpoint) -> Handler:
        async def handler(request: Request) -> Response:
            api: Api = request.app.state.api
            try:
                session = None if public else session_of(request, api.auth)
                if session is not None and permission and not may(session.role, permission):
                    raise HttpError(403, f"a {session.role.replace('_', ' ')} may not do this", "forbidden",
                                    role=session.role)
                return await fn(request, api, session)
            except HttpError as exc:
                return JSONResponse(refusal(exc.reason, exc.code, exc.params), status_code=exc.status)
            except ActionRefused as exc:
                return JSONResponse(refusal(str(exc), exc.code, exc.params), status_code=409)
        handler.__doc__ = fn.__doc__
        handler.__name__ = fn.__name__
        return handler
    return wrap


def over_tls(request: Request) -> bool:
    """Served over TLS, directly or behind a proxy on loopback that says so."""
    if request.url.scheme == "https":
        return True
    proxied = request.client is not None and request.client.host in ("127.0.0.1", "::1")
    return proxied and request.headers.get("x-forwarded-proto") == "https"


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def session_of(request: Request, auth: Auth) -> Session:
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    session = auth.session(token_of(request))
    if session is None:
        raise HttpError(401, "sign in first", "sign_in")
    if not bearer and request.method not in ("GET", "HEAD", "OPTIONS") and \
            request.headers.get("x-csrf-token") != session.csrf:
        raise HttpError(403, "missing or wrong X-CSRF-Token", "csrf")
    return session


async def read_body(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """The JSON object of a request, read no further than `limit` (a 400 MB body is refused at its first
    64 KiB, not after it has been read into memory)."""
    body = parse_json(await read_raw(request, limit))
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object", "not_json")
    return body


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HttpError(400, "body is not JSON", "not_json") from None


async def read_raw(request: Request, limit: int = MAX_BODY) -> bytes:
    """A request's body as sent (a signature covers these bytes), no further than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"body over {limit} bytes", "too_large", bytes=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"body over {limit} bytes", "too_large", bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def month_param(request: Request) -> str:
    """?month=YYYY-MM (ASCII digits, a month 01 to 12), this month by default."""
    month = request.query_params.get("month") or time.strftime("%Y-%m")
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", month):
        raise HttpError(400, "month is YYYY-MM", "bad_month")
    return month


def path_id(text: str) -> int:
    """An id from a path: ASCII digits only (superscripts and other scripts' digits are digits to Python),
    and no wider than SQLite's integers."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HttpError(404, "no such item", "not_found")
    return int(text)
