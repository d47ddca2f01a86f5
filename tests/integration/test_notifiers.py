"""Escalation notices reach a real HTTP endpoint and a real SMTP conversation on loopback; silence and
shelve mute an alarm for a while, with a reason in its log, without closing it."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from cloud.alarm_lifecycle import Refused
from cloud.escalation import escalate_due
from cloud.notifiers import SmtpNotifier, WebhookNotifier, notify_all
from cloud.store import Store
from tests.support.records import checked

ALARM = {"id": "o:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "site": "s1",
         "device": "sd1", "text": "烟感报警", "t": 1000.0}


class Sinks:
    """A loopback HTTP endpoint and SMTP server that keep what they are sent (peers, not mocks)."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.mails: list[bytes] = []

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        self.posts.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                self.mails.append((await reader.readuntil(b"\r\n.\r\n"))[:-5])
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


async def test_an_escalation_is_posted_and_mailed(tmp_path: Path) -> None:
    sinks = Sinks()
    http = await asyncio.start_server(sinks.http, "127.0.0.1", 0)
    smtp = await asyncio.start_server(sinks.smtp, "127.0.0.1", 0)
    store = Store(tmp_path / "c.sqlite", streets={"s1": "西溪街道"})
    store.store_records("s1", "gw1", checked([ALARM]))
    raised = store.alarms()[0]["raised_at"]
    async with http, smtp:
        notifiers = [WebhookNotifier(f"http://127.0.0.1:{http.sockets[0].getsockname()[1]}/hook"),
                     SmtpNotifier("127.0.0.1", smtp.sockets[0].getsockname()[1], "firefleet@district.example",
                                  {"chief-1": "chief1@district.example"})]
        for alarm in escalate_due(store, ["chief-1"], raised + 61):
            await notify_all(notifiers, alarm, alarm["escalated_to"])
    assert [p["to"] for p in sinks.posts] == ["chief-1"]
    assert sinks.posts[0]["alarm"]["key"] == "sd1/smoke" and "西溪街道" in sinks.posts[0]["subject"]
    mail = message_from_bytes(sinks.mails[0])
    assert mail["To"] == "chief1@district.example" and "[fire]" in mail["Subject"]
    assert all(n.failures == 0 for n in notifiers)  # type: ignore[attr-defined]
    failing = WebhookNotifier("http://127.0.0.1:1/nothing-listens")
    await notify_all([failing], store.alarms()[0], "chief-1")
    assert failing.failures == 1  # counted and logged; the loop goes on
    store.close()


def test_silence_and_shelve_mute_for_a_while_and_are_logged(tmp_path: Path) -> None:
    import time

    store = Store(tmp_path / "c.sqlite")
    # muting counts from the wall clock; a supervisory alarm (a fire cannot be shelved before it is answered)
    store.store_records("s1", "gw1", checked([{**ALARM, "t": time.time(), "class": "supervisory"}]))
    alarm = store.alarms()[0]
    with pytest.raises(Refused, match="say why"):
        store.mute(alarm["id"], "shelve", 30, "duty-1", "")
    store.mute(alarm["id"], "shelve", 30, "duty-1", "detector under maintenance")
    assert store.alarms(include_shelved=False) == []
    assert store.alarms()[0]["handling"] == "raised"  # shelving closes nothing
    now = alarm["raised_at"] + 120
    assert escalate_due(store, ["chief-1"], now) == []  # muted: no escalation while shelved
    assert escalate_due(store, ["chief-1"], now + 31 * 60)[0]["escalated_to"] == "chief-1"  # expired
    log = [(e["who"], e["action"], e["notes"]) for e in store.alarm_log(alarm["id"])]
    assert ("duty-1", "shelve", "30 min: detector under maintenance") in log
    store.close()


def test_an_unacknowledged_fire_cannot_be_silenced_or_shelved_and_shelved_alarms_stay_listed(tmp_path: Path) -> None:
    """Issue 10.6, reproduced on the old main: an unacknowledged fire shelved for 1,440 minutes vanished from
    the queue and from the header's fire count."""
    import time

    store = Store(tmp_path / "c.sqlite")
    store.store_records("s1", "gw1", checked([{**ALARM, "t": time.time()}]))
    fire = store.alarms()[0]
    for how in ("silence", "shelve"):
        with pytest.raises(Refused, match="before someone acknowledges it"):
            store.mute(fire["id"], how, 1440, "duty-1", "too noisy")
    store.handle(fire["id"], "acknowledge", "duty-1")
    store.mute(fire["id"], "shelve", 30, "duty-1", "crew on site, detector being replaced")
    listed = store.alarms()
    assert [(a["id"], a["shelved"]) for a in listed] == [(fire["id"], True)]  # still listed, flagged
    store.close()
