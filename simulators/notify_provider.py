"""A notification provider on loopback: the SMS and voice platform and the WeChat Work and DingTalk group
robots the collector talks to (cloud.notify_channels), for the tests and the demo.

It answers as those services do (and checks what they check: the signature of an SMS or voice request, a
DingTalk robot's `sign`, the shape of a robot message), keeps every message it took, and calls the
collector back as a provider would: a delivery receipt shortly after each SMS and call (a call's
receipt carries the keys the callee pressed), and the SMS replies a person sends. A control API says
what a person does (reply, press a key) and what goes wrong (refuse the next sends, or fail to deliver).

    firefleet sim-notify --port 8765 --collector http://127.0.0.1:8080 --secret-env FF_NOTIFY_SECRET
    GET  /control/messages                     what it took, oldest first
    POST /control/reply   {phone, content}     a person replies to an SMS
    POST /control/press   {phone, dtmf}        what a person will press on their next call
    POST /control/fail    {channel, mode: refuse | undelivered, count}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devices.provider_signature import dingtalk_sign, signature, valid_signature
from simulators.quiet_server import QuietServer

__all__ = ["Provider", "running_provider"]

log = structlog.get_logger("firefleet.sim.notify")
RECEIPT_AFTER_S = 0.3
WECOM_MAX_BYTES = 2048


@dataclass
class Provider:
    secret: str  # the SMS and voice account's: requests and callbacks are signed with it
    collector: str = ""  # where callbacks go: {collector}/api/notify/{channel}/receipts | replies
    dingtalk_secret: str = ""
    sms_channel: str = "sms"  # the collector's channel ids for this account
    voice_channel: str = "voice"
    url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # what the collector answered
    _failing: dict[str, tuple[str, int]] = field(default_factory=dict)
    _presses: dict[str, str] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/sms/send", self._sms, methods=["POST"]), Route("/voice/call", self._voice, methods=["POST"]),
            Route("/cgi-bin/webhook/send", self._wecom, methods=["POST"]),
            Route("/robot/send", self._dingtalk, methods=["POST"]),
            Route("/control/messages", self._messages), Route("/control/reply", self._reply, methods=["POST"]),
            Route("/control/press", self._press, methods=["POST"]),
            Route("/control/fail", self._fail, methods=["POST"])])

    # -- the SMS and voice platform ----------------------------------------------------------------
    async def _signed(self, request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if not valid_signature(self.secret, request.headers.get("x-ff-timestamp", ""), raw,
                               request.headers.get("x-ff-signature", ""), time.time()):
            return None
        body = json.loads(raw)
        return body if isinstance(body, dict) else None

    def _refusing(self, channel: str) -> str:
        mode, count = self._failing.get(channel, ("", 0))
        if count <= 0:
            return ""
        self._failing[channel] = (mode, count - 1)
        return mode

    async def _sms(self, request: Request) -> JSONResponse:
        body = await self._signed(request)
        if body is None:
            return JSONResponse({"Code": "SignatureDoesNotMatch", "Message": "签名不匹配"})
        if self._refusing("sms") == "refuse":
            return JSONResponse({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发号码天级流控"})
        biz_id = uuid.uuid4().hex[:20]
        self._took("sms", str(body.get("PhoneNumbers")), body, biz_id)
        delivered = self._refusing("sms-delivery") != "undelivered"
        self._later(self.sms_channel, "receipts", [{
            "phone_number": body.get("PhoneNumbers"), "biz_id": biz_id, "out_id": body.get("OutId"),
            "success": delivered, "err_code": "DELIVERED" if delivered else "MOBILE_NOT_ON_SERVICE",
            "report_time": time.strftime("%Y-%m-%d %H:%M:%S")}])
        return JSONResponse({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": uuid.uuid4().hex})

    async def _voice(self, request: Request) -> JSONResponse:
        body = await self._signed(request)
        if body is None:
            return JSONResponse({"Code": "SignatureDoesNotMatch", "Message": "签名不匹配"})
        if self._refusing("voice") == "refuse":
            return JSONResponse({"Code": "isv.OUT_OF_SERVICE", "Message": "业务停机"})
        call_id = uuid.uuid4().hex[:20]
        number = str(body.get("CalledNumber"))
        self._took("voice", number, body, call_id)
        answered = self._refusing("voice-delivery") != "undelivered"
        self._later(self.voice_channel, "receipts", [{
            "call_id": call_id, "out_id": body.get("OutId"), "success": answered,
            "err_code": "200000" if answered else "200005", "dtmf": self._presses.pop(number, "") if answered else ""}])
        return JSONResponse({"Code": "OK", "Message": "OK", "CallId": call_id, "RequestId": uuid.uuid4().hex})

    # -- group robots ------------------------------------------------------------------------------
    async def _wecom(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            text = body["text"]
            ok = body["msgtype"] == "text" and isinstance(text["content"], str) and \
                len(text["content"].encode()) <= WECOM_MAX_BYTES and \
                all(isinstance(m, str) for m in text.get("mentioned_mobile_list", []))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok or not request.query_params.get("key"):
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        self._took("wecom", request.query_params["key"], body, "")
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _dingtalk(self, request: Request) -> JSONResponse:
        if self.dingtalk_secret:
            stamp = request.query_params.get("timestamp", "")
            fresh = stamp.isdigit() and abs(time.time() * 1000 - int(stamp)) < 3_600_000
            if not fresh or request.query_params.get("sign") != dingtalk_sign(self.dingtalk_secret, int(stamp)):
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
        try:
            body = json.loads(await request.body())
            ok = body["msgtype"] == "text" and isinstance(body["text"]["content"], str)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return JSONResponse({"errcode": 40035, "errmsg": "缺少参数 json"})
        self._took("dingtalk", request.query_params.get("access_token", ""), body, "")
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    # -- control -----------------------------------------------------------------------------------
    async def _messages(self, request: Request) -> JSONResponse:
        return JSONResponse(self.messages)

    async def _reply(self, request: Request) -> JSONResponse:
        body = await request.json()
        self._later(self.sms_channel, "replies", [{"phone_number": str(body["phone"]), "content": str(body["content"]),
                                                   "send_time": time.strftime("%Y-%m-%d %H:%M:%S")}], after=0.0)
        return JSONResponse({"ok": True})

    async def _press(self, request: Request) -> JSONResponse:
        body = await request.json()
        self._presses[str(body["phone"])] = str(body["dtmf"])
        return JSONResponse({"ok": True})

    async def _fail(self, request: Request) -> JSONResponse:
        body = await request.json()
        channel, mode = str(body["channel"]), str(body.get("mode", "refuse"))
        key = channel if mode == "refuse" else f"{channel}-delivery"
        self._failing[key] = (mode, int(body.get("count", 1)))
        return JSONResponse({"ok": True})

    # -- bookkeeping -------------------------------------------------------------------------------
    def _took(self, channel: str, to: str, body: dict[str, Any], provider_id: str) -> None:
        self.messages.append({"channel": channel, "to": to, "body": body, "id": provider_id, "at": time.time()})
        log.info("message taken", channel=channel, to=to)

    def _later(self, channel: str, kind: str, items: list[dict[str, Any]], after: float = RECEIPT_AFTER_S) -> None:
        task = asyncio.get_running_loop().create_task(self._call_back(channel, kind, items, after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call_back(self, channel: str, kind: str, items: list[dict[str, Any]], after: float) -> None:
        await asyncio.sleep(after)
        if not self.collector:
            return
        raw = json.dumps(items, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {"content-type": "application/json", "x-ff-timestamp": stamp,
                   "x-ff-signature": signature(self.secret, stamp, raw)}
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.post(f"{self.collector}/api/notify/{channel}/{kind}", content=raw,
                                           headers=headers)
            self.callbacks.append({"kind": kind, "status": answer.status_code, "items": items})
        except httpx.HTTPError as exc:
            log.warning("callback failed", kind=kind, reason=str(exc))


@contextlib.asynccontextmanager
async def running_provider(provider: Provider, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Provider]:
    """Serve `provider` on a loopback port in this event loop (its `url` set) until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(32)
    provider.url = f"http://{host}:{sock.getsockname()[1]}"
    server = QuietServer(uvicorn.Config(provider.app(), log_level="warning", lifespan="off",
                                        timeout_graceful_shutdown=1))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="notify-provider")
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    try:
        yield provider
    finally:
        for pending in list(provider._tasks):
            pending.cancel()
        server.should_exit = True
        await task
