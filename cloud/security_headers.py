"""Security headers on every response of the collector, the API's JSON and the console's files alike. A
handler cannot loosen them; it may only set a stricter policy (one that starts from default-src 'none')."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.console import POLICY

__all__ = ["SecurityHeaders"]

_ALWAYS = [(b"content-security-policy", POLICY.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cross-origin-opener-policy", b"same-origin"), (b"permissions-policy", b"camera=(), microphone=()")]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")
        tls = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = message.get("headers", [])
                # a response may only tighten the policy (an uploaded plan's image: nothing may run at all)
                strict = [(k, v) for k, v in given if k.lower() == b"content-security-policy"
                          and v.startswith(b"default-src 'none'")]
                headers = [(k, v) for k, v in given if k.lower() not in {h for h, _ in _ALWAYS}]
                headers += strict + [(k, v) for k, v in _ALWAYS if not (strict and k == b"content-security-policy")]
                if api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))  # alarms and sessions stay out of caches
                if tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
