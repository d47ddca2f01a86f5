"""Telling people about an escalated alarm: a webhook (JSON POST) and e-mail over SMTP.

The one module that imports httpx (and smtplib). A notifier that fails is logged and counted; it never
stops the escalation loop or the other notifiers.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
import structlog

__all__ = ["Notifier", "SmtpNotifier", "WebhookNotifier", "notify_all"]

log = structlog.get_logger("firefleet.cloud.notify")


class Notifier(Protocol):
    failures: int

    async def send(self, alarm: dict[str, Any], to: str) -> None: ...


def _subject(alarm: dict[str, Any]) -> str:
    return (f"[{alarm['class']}] {alarm.get('street', '')} {alarm['site']} {alarm.get('device', '')}: "
            f"{alarm.get('text') or alarm.get('rule') or alarm['key']} (unacknowledged, escalated to you)")


@dataclass
class WebhookNotifier:
    url: str
    timeout: float = 5.0
    failures: int = 0

    async def send(self, alarm: dict[str, Any], to: str) -> None:
        body = {"event": "alarm_escalated", "to": to, "subject": _subject(alarm), "alarm": alarm}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(self.url, content=json.dumps(body, default=str, ensure_ascii=False),
                                         headers={"content-type": "application/json"})
            response.raise_for_status()


@dataclass
class SmtpNotifier:
    host: str
    port: int
    sender: str
    addresses: dict[str, str] = field(default_factory=dict)  # roster name -> e-mail address
    timeout: float = 10.0
    failures: int = 0

    async def send(self, alarm: dict[str, Any], to: str) -> None:
        address = self.addresses.get(to, to)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, address, _subject(alarm)
        message.set_content(json.dumps(alarm, default=str, ensure_ascii=False, indent=2))

        def deliver() -> None:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        await asyncio.to_thread(deliver)


async def notify_all(notifiers: list[Any], alarm: dict[str, Any], to: str) -> None:
    for notifier in notifiers:
        try:
            await notifier.send(alarm, to)
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            notifier.failures += 1
            log.warning("notification failed", notifier=type(notifier).__name__, alarm=alarm.get("id"),
                        reason=str(exc))
