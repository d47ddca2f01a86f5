"""Sending through a notification channel (cloud.notify_plan): SMS and voice calls through a provider's HTTP
API, and posts to WeChat Work (企业微信) and DingTalk (钉钉) group robots. The module that speaks to them
(httpx); the provider simulator (simulators.notify_provider) stands in for all four in tests and the demo.

- SMS: POST JSON {PhoneNumbers, SignName, TemplateCode, TemplateParam (a JSON string), OutId}, answered
  {Code: "OK", BizId} or {Code: <error>, Message} (the shape of the common Chinese SMS platforms).
- Voice: POST JSON {CalledNumber, TtsCode, TtsParam, PlayTimes, OutId}, answered {Code: "OK", CallId}.
  Both signed (devices.provider_signature); delivery receipts, SMS replies and the keys a callee pressed
  come back to the collector's callbacks (cloud.api.notify).
- WeChat Work robot: {msgtype: "text", text: {content, mentioned_mobile_list}}, answered {errcode: 0}.
- DingTalk robot: {msgtype: "text", text: {content}, at: {atMobiles, isAtAll}}, signed in the query
  string when the robot has a secret, answered {errcode: 0}.
Anything else (a refusal, an error code, no answer within the timeout) is a ChannelFailed with the reason.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from cloud.notify_plan import Channel
from devices.provider_signature import dingtalk_sign, signature

__all__ = ["ChannelFailed", "post_group", "send_personal"]

TIMEOUT_S = 5.0


class ChannelFailed(Exception):
    pass


async def send_personal(channel: Channel, number: str, params: dict[str, str], out_id: str) -> str:
    """An SMS or a voice call to one number; the provider's id for it (BizId or CallId)."""
    if channel.type == "sms":
        body: dict[str, Any] = {"PhoneNumbers": number, "SignName": channel.sign, "TemplateCode": channel.template,
                                "TemplateParam": json.dumps(params, ensure_ascii=False), "OutId": out_id}
        id_field = "BizId"
    else:
        body = {"CalledNumber": number, "TtsCode": channel.template, "PlayTimes": 2,
                "TtsParam": json.dumps(params, ensure_ascii=False), "OutId": out_id}
        id_field = "CallId"
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    headers = {"content-type": "application/json", "x-ff-key-id": channel.key_id, "x-ff-timestamp": stamp,
               "x-ff-signature": signature(channel.secret, stamp, raw)}
    answer = await _post(channel, channel.url, raw, headers)
    if answer.get("Code") != "OK" or not isinstance(answer.get(id_field), str):
        raise ChannelFailed(f"{channel.id}: {answer.get('Code')}: {answer.get('Message', '')}"[:300])
    return str(answer[id_field])


async def post_group(channel: Channel, text: str, numbers: list[str]) -> None:
    """A text to a group robot, mentioning the people of the step by their phone numbers."""
    url = channel.url
    if channel.type == "wecom":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": numbers}}
    else:
        body = {"msgtype": "text", "text": {"content": text}, "at": {"atMobiles": numbers, "isAtAll": False}}
        if channel.secret:
            ms = int(time.time() * 1000)
            url += f"{'&' if '?' in url else '?'}timestamp={ms}&sign={quote(dingtalk_sign(channel.secret, ms))}"
    answer = await _post(channel, url, json.dumps(body, ensure_ascii=False).encode(),
                         {"content-type": "application/json"})
    if answer.get("errcode") != 0:
        raise ChannelFailed(f"{channel.id}: errcode {answer.get('errcode')}: {answer.get('errmsg', '')}"[:300])


async def _post(channel: Channel, url: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.post(url, content=raw, headers=headers)
        response.raise_for_status()
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ChannelFailed(f"{channel.id}: {type(exc).__name__}: {exc}"[:300]) from None
    if not isinstance(answer, dict):
        raise ChannelFailed(f"{channel.id}: the answer is not a JSON object")
    return answer
