"""Notifications (issue 15.4): the plan file checked with file:line, what is due when (pure), the channels'
formats against the provider simulator (in this loop, on a loopback port), and the provider's callbacks:
refused unsigned, receipts kept, a failed one falling through, and a key press acknowledging the alarm."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from cloud.api import build_api
from cloud.auth import Auth
from cloud.event_hub import EventHub
from cloud.notify_channels import ChannelFailed, post_group, send_personal
from cloud.notify_job import due_sends
from cloud.notify_plan import NotifyPlan, load_notify_plan
from cloud.store import Store
from devices.contract import as_birth, as_record
from devices.errors import SiteConfigError
from devices.provider_signature import signature
from simulators.notify_provider import Provider, running_provider
from tests.conftest import ROOT

EXAMPLE = ROOT / "deploy/examples/notifications.yaml"
ENV = {"FF_NOTIFY_SECRET": "account-secret", "FF_DINGTALK_SECRET": "robot-secret"}


def plan_at(url: str, env: dict[str, str] = ENV) -> NotifyPlan:
    """The example plan with its channels at `url` (where the provider simulator listens)."""
    plan = load_notify_plan(EXAMPLE, env)
    return replace(plan, channels={k: replace(c, url=c.url.replace("http://127.0.0.1:8765", url))
                                   for k, c in plan.channels.items()})


def test_the_plan_file_is_checked_with_file_line_and_field(tmp_path: Path) -> None:
    plan = load_notify_plan(EXAMPLE, ENV)
    assert [s.after_s for s in plan.rules[0].steps] == [0.0, 60.0] and plan.channels["sms"].secret == "account-secret"
    text = EXAMPLE.read_text()
    for wrong, right, says in (
            ("to: [wang, chief]", "to: [wang, nobody]", "no person 'nobody'"),
            ("groups: [wecom, dingtalk]", "groups: [sms]", "SMS and voice go under channels"),
            ("after: 60s", "after: 0s", "each after the one before"),
            ('phone: "13600136000"', 'phone: "call me"', "is not a number"),
            ("classes: [supervisory]", "classes: [smoke]", "classes are some of")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(wrong, right, 1))
        with pytest.raises(SiteConfigError, match=says) as caught:
            load_notify_plan(bad, ENV)
        assert str(caught.value).startswith(f"{bad}:")
    with pytest.raises(SiteConfigError, match="FF_NOTIFY_SECRET"):
        load_notify_plan(EXAMPLE, {"FF_DINGTALK_SECRET": "x"})  # a secret is never taken from the file


def alarm(cls: str = "fire", handling: str = "raised", raised: float = 1000.0, **more: Any) -> dict[str, Any]:
    return {"id": 7, "class": cls, "handling": handling, "raised_at": raised, "street": "西溪街道", "site": "s",
            "key": "sd1/smoke", **more}


def test_steps_come_due_people_fall_through_channels_and_nothing_is_sent_twice() -> None:
    plan = load_notify_plan(EXAMPLE, ENV)
    first = due_sends(plan, [alarm()], [], 1000.0)
    assert [(s.step, s.person, s.channel) for s in first] == [(0, "wang", "sms"), (0, "*", "wecom"),
                                                               (0, "*", "dingtalk")]
    tried = [{"alarm": 7, "step": 0, "person": p, "channel": c, "state": st, "sent_at": 1000.0}
             for p, c, st in (("wang", "sms", "failed"), ("*", "wecom", "accepted"), ("*", "dingtalk", "accepted"))]
    assert [(s.person, s.channel) for s in due_sends(plan, [alarm()], tried, 1001.0)] == [("wang", "voice")]
    tried[0]["state"] = "delivered"
    assert due_sends(plan, [alarm()], tried, 1059.0) == []  # reached; the next step is not due yet
    later = due_sends(plan, [alarm()], tried, 1060.0)
    assert [(s.step, s.person, s.channel) for s in later] == [(1, "wang", "voice"), (1, "chief", "voice")]
    assert due_sends(plan, [alarm(handling="acknowledged")], [], 5000.0) == []  # someone answered
    assert due_sends(plan, [alarm(silenced_until=9999.0)], [], 5000.0) == []  # muted, with a reason
    assert due_sends(plan, [alarm(cls="supervisory", street="文新街道")], [], 5000.0) == []  # not its street
    assert [s.person for s in due_sends(plan, [alarm(cls="supervisory")], [], 1120.0)] == ["chen", "*"]


async def test_each_channel_speaks_its_platforms_format_and_a_refusal_is_a_failure() -> None:
    async with running_provider(Provider(ENV["FF_NOTIFY_SECRET"], "", ENV["FF_DINGTALK_SECRET"])) as provider:
        plan = plan_at(provider.url)
        biz = await send_personal(plan.channels["sms"], "13800138000", {"site": "一号棚", "level": "火警"}, "ff7s0")
        call = await send_personal(plan.channels["voice"], "13800138000", {"site": "一号棚"}, "ff7s1")
        await post_group(plan.channels["wecom"], "【火警】一号棚", ["13800138000"])
        await post_group(plan.channels["dingtalk"], "【火警】一号棚", ["13800138000"])
        sms, voice, wecom, ding = (m["body"] for m in provider.messages)
        assert biz == provider.messages[0]["id"] and call == provider.messages[1]["id"]
        assert sms["SignName"] == "西湖消防" and json.loads(sms["TemplateParam"]) == {"site": "一号棚", "level": "火警"}
        assert voice["CalledNumber"] == "13800138000" and voice["OutId"] == "ff7s1"
        assert wecom == {"msgtype": "text",
                         "text": {"content": "【火警】一号棚", "mentioned_mobile_list": ["13800138000"]}}
        assert ding["at"]["atMobiles"] == ["13800138000"]
        async with httpx.AsyncClient(base_url=provider.url) as control:
            await control.post("/control/fail", json={"channel": "sms", "mode": "refuse", "count": 1})
        with pytest.raises(ChannelFailed, match="BUSINESS_LIMIT"):
            await send_personal(plan.channels["sms"], "13800138000", {}, "x")
        with pytest.raises(ChannelFailed, match="40008"):  # over WeChat Work's 2,048 bytes
            await post_group(plan.channels["wecom"], "x" * 3000, [])
        wrong = plan_at(provider.url, {**ENV, "FF_DINGTALK_SECRET": "not the robot's"})
        with pytest.raises(ChannelFailed, match="310000"):
            await post_group(wrong.channels["dingtalk"], "x", [])


@dataclass
class Rig:
    client: httpx.AsyncClient
    store: Store
    alarm: int


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = Store(f"{tmp_path}/s.db")
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "site": "shed-1"}))
    store.store_records("shed-1", "gw1", [as_record({
        "type": "alarm", "id": "o:1", "site": "shed-1", "t": time.time(), "mono": 1.0, "trusted": True,
        "key": "sd1/smoke", "class": "fire", "severity": 1, "state": "active", "device": "sd1"})])
    (row,) = store.alarms()

    async def sent(*args: object) -> None:
        return None
    app = build_api(store, Auth(store), EventHub(), sent, inventory={"shed-1": {"name": "一号棚", "street": "西溪街道",
                                                                              "gateway": "gw1"}},
                    notify_plan=load_notify_plan(EXAMPLE, ENV))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        yield Rig(client, store, int(row["id"]))
    store.close()


async def callback(rig: Rig, path: str, items: list[dict[str, Any]], secret: str = ENV["FF_NOTIFY_SECRET"],
                   stamp: float | None = None) -> httpx.Response:
    raw = json.dumps(items).encode()
    when = str(int(time.time() if stamp is None else stamp))
    return await rig.client.post(path, content=raw, headers={"x-ff-timestamp": when,
                                                             "x-ff-signature": signature(secret, when, raw)})


async def test_callbacks_must_be_signed_and_a_key_press_acknowledges_the_alarm(rig: Rig) -> None:
    sms = rig.store.claim_notification(rig.alarm, 0, "wang", "sms", "13800138000")
    voice = rig.store.claim_notification(rig.alarm, 1, "wang", "voice", "13800138000")
    assert sms and voice and rig.store.claim_notification(rig.alarm, 0, "wang", "sms", "13800138000") is None
    for secret, stamp in (("a guess", None), (ENV["FF_NOTIFY_SECRET"], time.time() - 600)):  # forged; replayed
        refused = await callback(rig, "/api/notify/sms/receipts", [{"out_id": sms, "success": False}], secret, stamp)
        assert refused.status_code == 401 and refused.json()["code"] == "bad_signature"
    assert (await callback(rig, "/api/notify/wecom/receipts", [])).status_code == 404  # robots have no receipts
    failed = await callback(rig, "/api/notify/sms/receipts", [{"out_id": sms, "success": False,
                                                               "err_code": "MOBILE_NOT_ON_SERVICE"}])
    assert failed.json() == {"code": 0, "msg": "成功"}
    assert rig.store.notifications_of(rig.alarm)[0]["state"] == "failed"  # the step's next channel goes next
    pressed = await callback(rig, "/api/notify/voice/receipts", [{"out_id": voice, "success": True, "dtmf": "1"}])
    assert pressed.status_code == 200
    acknowledged = rig.store.alarm(rig.alarm)
    assert acknowledged is not None and acknowledged["handling"] == "acknowledged"
    (entry,) = [e for e in rig.store.alarm_log(rig.alarm) if e["action"] == "acknowledge"]
    assert entry["who"] == "王建国" and "pressed 1" in entry["notes"]
    assert [n["state"] for n in rig.store.notifications_of(rig.alarm)] == ["failed", "answered"]
    # a reply from a number nobody told anything is ignored; so is the same key pressed twice
    again = await callback(rig, "/api/notify/sms/replies", [{"phone_number": "13999999999", "content": "1"}])
    assert again.status_code == 200 and len([e for e in rig.store.alarm_log(rig.alarm)
                                             if e["action"] == "acknowledge"]) == 1


def test_sends_and_dispatches_are_kept_once_on_both_engines(store_at: str) -> None:
    store = Store(store_at)
    try:
        store.store_records("shed-1", "gw1", [as_record({
            "type": "alarm", "id": "o:1", "site": "shed-1", "t": time.time(), "mono": 1.0, "trusted": True,
            "key": "sd1/smoke", "class": "fire", "severity": 1, "state": "active", "device": "sd1"})])
        fire = int(store.alarms()[0]["id"])
        out_id = store.claim_notification(fire, 0, "wang", "sms", "13800138000")
        assert out_id and store.claim_notification(fire, 0, "wang", "sms", "13800138000") is None
        assert store.claim_notification(fire, 0, "wang", "voice", "13800138000")  # the next channel is another row
        row = store.notification_result(out_id, "delivered")
        assert row is not None and row["state"] == "delivered"
        assert [n["channel"] for n in store.sent_to("13800138000", "sms")] == ["sms"]
        assert store.give_up_stuck_notifications(time.time() + 1) == 1  # the voice send never heard back
        made = store.add_dispatch(fire, "station-wenxin-01", "a-token-of-enough-length", "duty", 60)
        assert store.dispatch_by_token("a-token-of-enough-length")["id"] == made["id"]  # type: ignore[index]
        assert store.dispatch_by_token("another-token-entirely") is None
        with pytest.raises(ValueError, match="on its way first"):
            store.dispatch_step("a-token-of-enough-length", "on_scene", "站")
        store.dispatch_step("a-token-of-enough-length", "acknowledged", "站")
        done = store.dispatch_step("a-token-of-enough-length", "on_scene", "站")
        again = store.dispatch_step("a-token-of-enough-length", "on_scene", "站")
        assert again["on_scene_at"] == done["on_scene_at"]  # said once
        assert [d["station"] for d in store.dispatches_of(fire)] == ["station-wenxin-01"]
    finally:
        store.close()


async def test_a_dispatch_link_is_the_one_the_station_can_open_behind_the_tls_proxy(tmp_path: Path) -> None:
    """Before: behind the district's TLS proxy the SMS carried an http:// link to the collector's own port."""
    store = Store(f"{tmp_path}/s.db")
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "site": "shed-1"}))
    store.store_records("shed-1", "gw1", [as_record({
        "type": "alarm", "id": "o:1", "site": "shed-1", "t": time.time(), "mono": 1.0, "trusted": True,
        "key": "sd1/smoke", "class": "fire", "severity": 1, "state": "active", "device": "sd1"})])
    fire = int(store.alarms()[0]["id"])
    for action in ("acknowledge", "verify", "confirm"):
        store.handle(fire, action, "duty")
    auth = Auth(store)
    auth.add_user("duty", "a long password", "duty_officer")
    dossier = {"address": "", "access": "", "contacts": [], "water": [],
               "nearest_station": {"site": "station-1", "distance_m": 800}}
    inventory: dict[str, dict[str, Any]] = {
        "shed-1": {"name": "一号棚", "street": "西溪街道", "gateway": "gw1", "dossier": dossier},
        "station-1": {"name": "一号微型消防站", "kind": "micro_station", "gateway": "gw9"}}

    async def sent(*args: object) -> None:
        return None
    app = build_api(store, auth, EventHub(), sent, inventory=inventory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 4444)),
                                 base_url="http://127.0.0.1:8080") as proxy:
        token = (await proxy.post("/api/login", json={"user": "duty", "password": "a long password",
                                                        "token": True})).json()["token"]
        answer = await proxy.post(f"/api/alarms/{fire}/dispatch", headers={
            "Authorization": f"Bearer {token}", "Host": "fire.district.example", "X-Forwarded-Proto": "https"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["link"].startswith("https://fire.district.example/dispatch/")
    store.close()
