"""The collector's HTTP API in process (httpx over ASGI): the life cycle through HTTP with its refusals,
an escalation when nobody acknowledges (time injected), every write endpoint tried with every role,
CSRF for browser sessions, login rate limiting, the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cloud.api import build_api
from cloud.auth import ROLES, Auth
from cloud.escalation import escalate_due
from cloud.event_hub import EventHub
from cloud.store import Store
from devices.contract import Command
from tests.support.records import checked, checked_birth

PASSWORD = "correct horse battery"
ALARM = {"id": "o:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "site": "s1",
         "device": "sd1", "t": 1000.0}


class Sent:
    def __init__(self) -> None:
        self.commands: list[tuple[str, str, Command]] = []

    async def __call__(self, site: str, gateway: str, command: Command, ttl: float) -> None:
        self.commands.append((site, gateway, command))


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store, Sent]]:
    store = Store(tmp_path / "c.sqlite", streets={"s1": "西溪街道"})
    auth = Auth(store)
    for role in ROLES:
        auth.add_user(role, PASSWORD, role)
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": []}))
    store.store_records("s1", "gw1", checked([ALARM]))
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": [
        {"id": "sd1", "values": {"battery": 9}}]}))
    store.evaluate_tickets(1000.0)  # a low-battery ticket, id 1
    sent = Sent()
    app = build_api(store, auth, EventHub(), sent)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        yield client, store, sent
    store.close()


async def bearer(client: httpx.AsyncClient, user: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"user": user, "password": PASSWORD, "token": True})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_the_whole_life_cycle_through_http(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    client, store, _ = setup
    duty = await bearer(client, "duty_officer")
    alarms = (await client.get("/api/alarms", headers=duty)).json()
    assert [(a["key"], a["site"], a["street"], a["device"], a["class"]) for a in alarms] == [
        ("sd1/smoke", "s1", "西溪街道", "sd1", "fire")]
    url = f"/api/alarms/{alarms[0]['id']}/actions"
    refused = await client.post(url, headers=duty, json={"action": "close", "disposition": {"result": "x"}})
    assert refused.status_code == 409 and "cannot close an alarm that is raised" in refused.json()["error"]
    assert (refused.json()["code"], refused.json()["params"]) == (
        "wrong_step", {"action": "close", "handling": "raised"})
    for action in ("acknowledge", "verify", "confirm", "dispose"):
        response = await client.post(url, headers=duty, json={"action": action, "notes": f"{action} by phone"})
        assert response.status_code == 200, response.text
    still_active = await client.post(url, headers=duty, json={"action": "close", "disposition": {"result": "out"}})
    assert still_active.status_code == 409 and "still active" in still_active.json()["error"]
    assert still_active.json()["code"] == "close_while_active"  # the console words it in its reader's language
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:2", "state": "cleared"}]))
    no_disposition = await client.post(url, headers=duty, json={"action": "close"})
    assert no_disposition.status_code == 409 and "needs a disposition" in no_disposition.json()["error"]
    closed = await client.post(url, headers=duty, json={"action": "close", "notes": "done",
                                                        "disposition": {"result": "kitchen smoke", "notes": "ok"}})
    assert closed.status_code == 200 and closed.json()["handling"] == "closed"
    detail = (await client.get(f"/api/alarms/{alarms[0]['id']}", headers=duty)).json()
    assert [e["who"] for e in detail["log"]][-1] == "duty_officer"
    assert detail["disposition"] == {"result": "kitchen smoke", "notes": "ok", "who": "duty_officer"}
    assert not [k for k in {*detail, *alarms[0]} if k.endswith("_json")]  # typed JSON, never a column name
    assert (await client.get("/api/alarms", headers=duty)).json() == []


async def test_the_fires_of_one_incident_are_acknowledged_together(
        setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    client, store, _ = setup
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:9", "key": "shed-smoke-cut",
                                                "rule": "shed-smoke-cut"}]))
    fires = [a["id"] for a in store.alarms()]
    duty = await bearer(client, "duty_officer")
    both = await client.post("/api/alarms/actions", headers=duty,
                             json={"ids": [*fires, 999], "action": "acknowledge", "notes": "同一起火情"})
    assert both.status_code == 200, both.text
    assert [a["handling"] for a in both.json()["done"]] == ["acknowledged", "acknowledged"]
    assert [(r["id"], r["code"]) for r in both.json()["refused"]] == [(999, "not_found")]
    again = (await client.post("/api/alarms/actions", headers=duty,
                               json={"ids": fires, "action": "acknowledge"})).json()
    assert [r["code"] for r in again["refused"]] == ["wrong_step", "wrong_step"] and again["done"] == []
    audited = [e for e in store.audit_log(100) if e["action"] == "alarm acknowledge"]
    assert sorted(int(e["target"]) for e in audited) == sorted(fires)  # each alarm audited on its own
    closing = await client.post("/api/alarms/actions", headers=duty, json={"ids": fires, "action": "close"})
    assert closing.status_code == 400 and closing.json()["code"] == "close_one_by_one"
    maint = await bearer(client, "maintenance")
    assert (await client.post("/api/alarms/actions", headers=maint,
                              json={"ids": fires, "action": "verify"})).json()["code"] == "forbidden"


async def test_escalation_fires_when_nobody_acknowledges(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    _, store, _ = setup
    raised_at = store.alarms()[0]["raised_at"]
    assert escalate_due(store, ["chief-1", "chief-2"], raised_at + 59) == []
    first = escalate_due(store, ["chief-1", "chief-2"], raised_at + 61)
    assert [(a["escalated"], a["escalated_to"]) for a in first] == [(1, "chief-1")]
    assert escalate_due(store, ["chief-1", "chief-2"], raised_at + 90) == []
    second = escalate_due(store, ["chief-1", "chief-2"], raised_at + 121)
    assert [(a["escalated"], a["escalated_to"]) for a in second] == [(2, "chief-2")]
    store.handle(store.alarms()[0]["id"], "acknowledge", "chief-2")
    assert escalate_due(store, ["chief-1", "chief-2"], raised_at + 1000) == []


WRITES = {  # endpoint -> the roles allowed
    ("POST", "/api/alarms/1/actions", '{"action": "acknowledge"}'): {"duty_officer", "admin"},
    ("POST", "/api/alarms/actions", '{"ids": [1], "action": "acknowledge"}'): {"duty_officer", "admin"},
    ("POST", "/api/commands", '{"site": "s1", "gateway": "gw1", "action": "rebirth"}'): {"duty_officer", "admin"},
    ("POST", "/api/users", '{"name": "new", "password": "long enough", "role": "maintenance"}'): {"admin"},
    ("POST", "/api/tickets/1/defer", '{"reason": "battery on order"}'): {"maintenance", "admin"},
    ("POST", "/api/alarms/1/mute", '{"how": "silence", "minutes": 10, "reason": "test"}'): {"duty_officer", "admin"},
}


@pytest.mark.parametrize("role", ROLES)
async def test_every_write_endpoint_with_every_role(setup: tuple[httpx.AsyncClient, Store, Sent], role: str) -> None:
    client, store, sent = setup
    headers = await bearer(client, role)
    for (method, url, body), allowed in WRITES.items():
        response = await client.request(method, url, headers={**headers, "content-type": "application/json"},
                                        content=body)
        if role in allowed:
            assert response.status_code in (200, 201, 202), (role, url, response.text)
        else:
            assert response.status_code == 403, (role, url, response.text)
            assert "may not" in response.json()["error"]
    assert len(sent.commands) == (1 if role in WRITES[next(iter(k for k in WRITES if "commands" in k[1]))] else 0)
    who = {entry["who"] for entry in store.audit_log()}
    assert role in who  # the login, and every allowed write, are in the audit trail
    client.cookies.clear()
    anonymous = await client.post("/api/alarms/1/actions", json={"action": "acknowledge"})
    assert anonymous.status_code == 401


async def test_browser_sessions_need_the_csrf_token(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    client, _, _ = setup
    login = await client.post("/api/login", json={"user": "duty_officer", "password": PASSWORD})
    csrf = login.json()["csrf"]
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    forged = await client.post("/api/alarms/1/actions", json={"action": "acknowledge"})  # cookie only
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]
    good = await client.post("/api/alarms/1/actions", json={"action": "acknowledge"}, headers={"X-CSRF-Token": csrf})
    assert good.status_code == 200


async def test_logins_are_rate_limited_and_bad_requests_are_json(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    """Issue 11.8, reproduced on the old main: five wrong passwords for one name from anywhere locked the
    real user out for 5 minutes, while guesses at unknown names were never slowed."""
    client, store, _ = setup
    for n in range(5):
        name = "admin" if n % 2 else f"nobody{n}"  # unknown names count the same
        assert (await client.post("/api/login", json={"user": name, "password": "wrong"})).status_code == 401
    limited = await client.post("/api/login", json={"user": "admin", "password": PASSWORD})
    assert limited.status_code == 429 and "from this address" in limited.json()["error"]
    assert int(limited.headers["retry-after"]) >= 1
    app = client._transport.app  # type: ignore[attr-defined]
    elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.1.2.3", 5000)),
                                  base_url="http://collector")
    async with elsewhere:
        real = await elsewhere.post("/api/login", json={"user": "admin", "password": PASSWORD})
        assert real.status_code == 200, "the real user, from another address, was locked out"
        assert "token" not in real.json()  # a browser session: the token stays in the HttpOnly cookie
        duty = await bearer(elsewhere, "duty_officer")
    too_long = await client.post("/api/login", json={"user": "x" * 60_000, "password": "p"})
    assert too_long.status_code in (401, 429)
    assert all(len(entry["who"]) <= 64 for entry in store.audit_log(1000))
    assert (await client.post("/api/alarms/1/actions", headers=duty, content=b"{oops")).json() == {
        "error": "body is not JSON", "code": "not_json", "params": {}}
    assert (await client.get("/api/alarms/999", headers=duty)).status_code == 404
    assert (await client.get("/api/nowhere")).status_code == 404
    store = setup[1]
    store.save_readiness("2026-11-01", "st1", "西溪街道", 80.0, [])
    store.save_readiness("2026-11-02", "st1", "西溪街道", 90.0, [])
    store.save_readiness("2026-11-01", "st2", "文新街道", 60.0, ["em1:vehicle2.soc"])
    ranking = (await client.get("/api/readiness/ranking?month=2026-11", headers=duty)).json()
    assert ranking == [{"rank": 1, "street": "西溪街道", "index": 85.0},
                       {"rank": 2, "street": "文新街道", "index": 60.0}]
    history = (await client.get("/api/readiness/history?month=2026-11", headers=duty)).json()
    assert [h["score"] for h in history] == [80.0, 60.0, 90.0]
    assert (await client.get("/api/readiness/ranking?month=11-2026", headers=duty)).status_code == 400
    for month in ("2026-13", "2026-00"):  # the right shape, not a month: refused, not a 500 from the report
        refused = await client.get(f"/api/reports/streets?month={month}", headers=duty)
        assert (refused.status_code, refused.json()["code"]) == (400, "bad_month")
    spec = (await client.get("/api/openapi.json")).text
    assert "/api/alarms/{id}/actions" in spec and "/api/stream" in spec


async def test_a_write_is_checked_against_the_devices_profile_before_it_is_sent(tmp_path: Path) -> None:
    from devices.profile_loader import load_profile_dir

    store = Store(tmp_path / "c.sqlite")
    auth = Auth(store)
    auth.add_user("duty", PASSWORD, "duty_officer")
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": [
        {"id": "box1", "profile": "xingdian-cb10"}, {"id": "odd", "profile": "someone-elses-fw9"}]}))
    sent = Sent()
    app = build_api(store, auth, EventHub(), sent, profiles=load_profile_dir())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        duty = await bearer(client, "duty")
        base = {"site": "s1", "gateway": "gw1", "action": "write", "device": "box1"}
        for point, value, status, reason in [
            ("port1.energy", 1, 422, "read-only"),
            ("port1.relay", 7, 422, "true or false"),
            ("port1.current_limit", "lots", 422, "takes a number"),
            ("port1.nothing", 1, 422, "no point"),
        ]:
            refused = await client.post("/api/commands", headers=duty, json={**base, "point": point, "value": value})
            assert (refused.status_code, reason in refused.json()["error"]) == (status, True), refused.text
        unknown = await client.post("/api/commands", headers=duty,
                                    json={**base, "device": "odd", "point": "relay", "value": False})
        assert unknown.status_code == 422 and "cannot be checked" in unknown.json()["error"]
        assert sent.commands == [], "a refused write was sent"
        good = await client.post("/api/commands", headers=duty, json={**base, "point": "port1.relay", "value": False})
        assert good.status_code == 202
        assert [c.point for _, _, c in sent.commands] == ["port1.relay"]
    store.close()


async def test_hostile_requests_get_4xx_never_500(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    """Issue 11.6, reproduced on the old main: 18 HTTP 500s, several without signing in."""
    client, _, _ = setup
    duty = await bearer(client, "duty_officer")
    deep = b"[" * 30_000
    assert (await client.post("/api/login", content=deep)).status_code == 400
    assert (await client.post("/api/alarms/1/actions", headers=duty, content=deep)).status_code == 400
    for path in ("/api/alarms/99999999999999999999", "/api/alarms/%C2%B2", "/api/alarms/" + "7" * 5000,
                 "/api/alarms/\U0001d7cf", "/api/alarms/\u00b9/actions"):
        response = await client.request("POST" if "actions" in path else "GET", path, headers=duty, json={})
        assert response.status_code == 404, (path[:40], response.status_code, response.text[:200])
    big = await client.post("/api/login", content=b"{" + b" " * 200_000 + b"}")
    assert big.status_code == 413


async def test_a_role_change_a_password_reset_or_disabling_ends_the_users_sessions(
        setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    """Issue 11.7, reproduced on the old main: after an admin re-created a user as district_viewer with a
    new password, the old token still acted as admin and created another admin."""
    client, _, _ = setup
    admin = await bearer(client, "admin")
    target = await bearer(client, "maintenance")
    assert (await client.get("/api/me", headers=target)).json()["role"] == "maintenance"
    demoted = await client.post("/api/users", headers=admin, json={"name": "maintenance", "password": "a new one!",
                                                                  "role": "district_viewer"})
    assert demoted.status_code == 201
    assert (await client.get("/api/me", headers=target)).status_code == 401
    again = {"Authorization": (await client.post("/api/login", json={"user": "maintenance", "password": "a new one!",
                                                                     "token": True})).json()["token"]}
    again["Authorization"] = f"Bearer {again['Authorization']}"
    assert (await client.get("/api/me", headers=again)).json()["role"] == "district_viewer"
    assert (await client.post("/api/users/maintenance/disable", headers=admin)).status_code == 200
    assert (await client.get("/api/me", headers=again)).status_code == 401
    refused = await client.post("/api/login", json={"user": "maintenance", "password": "a new one!"})
    assert refused.status_code == 401


async def test_an_admin_manages_users_without_locking_the_district_out(
        setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    client, _, _ = setup
    admin = await bearer(client, "admin")
    made = await client.post("/api/users", headers=admin, json={"name": "zhang.wei", "password": "夜班值班员的登录密码",
                                                               "role": "duty_officer"})
    assert made.status_code == 201
    listed = {u["name"]: u for u in (await client.get("/api/users", headers=admin)).json()}
    assert listed["zhang.wei"] == {"name": "zhang.wei", "role": "duty_officer", "disabled": False}
    assert not any("hash" in k for u in listed.values() for k in u)
    changed = await client.post("/api/users/zhang.wei", headers=admin, json={"role": "district_viewer"})
    assert changed.status_code == 200
    assert (await sign_in(client, "夜班值班员的登录密码")).json()["role"] == "district_viewer"  # password kept
    await client.post("/api/users/zhang.wei", headers=admin, json={"password": "新的密码新的密码"})
    assert (await sign_in(client, "新的密码新的密码")).status_code == 200
    assert (await client.post("/api/users/zhang.wei/disable", headers=admin)).json()["disabled"] is True
    assert (await sign_in(client, "新的密码新的密码")).status_code == 401
    assert (await client.get("/api/users", headers=admin)).json()[-1]["disabled"] is True
    assert (await client.post("/api/users/zhang.wei/enable", headers=admin)).status_code == 200
    assert (await sign_in(client, "新的密码新的密码")).status_code == 200
    # the last admin can neither be disabled nor demoted, and nobody disables their own account
    own = await client.post("/api/users/admin/disable", headers=admin)
    assert (own.status_code, own.json()["code"]) == (409, "own_account")
    demote = await client.post("/api/users/admin", headers=admin, json={"role": "maintenance"})
    assert (demote.status_code, demote.json()["code"]) == (409, "last_admin")
    trail = (await client.get("/api/audit?who=admin&text=zhang.wei", headers=admin)).json()
    assert [e["action"] for e in trail] == ["user enabled", "user disabled", "user changed", "user changed",
                                            "user added"]
    assert (await client.get("/api/audit?action=user%20disabled", headers=admin)).json()[0]["target"] == "zhang.wei"
    assert (await client.get("/api/audit?since=oops", headers=admin)).json()["code"] == "bad_field"
    assert (await client.get("/api/users", headers=await bearer(client, "duty_officer"))).status_code == 403


async def sign_in(client: httpx.AsyncClient, password: str, user: str = "zhang.wei") -> httpx.Response:
    return await client.post("/api/login", json={"user": user, "password": password, "token": True})


async def test_every_response_carries_the_security_headers(setup: tuple[httpx.AsyncClient, Store, Sent]) -> None:
    client, _, _ = setup
    duty = await bearer(client, "duty_officer")
    for path in ("/api/alarms", "/api/nowhere", "/", "/static/app.css"):
        response = await client.get(path, headers=duty)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert (await client.get("/api/alarms", headers=duty)).headers["cache-control"] == "no-store"


async def test_a_broker_drop_during_a_command_keeps_it_queued_instead_of_a_500(tmp_path: Path) -> None:
    """Issue 12.2: aiomqtt.MqttError leaked into the API: a 500, and the command row stayed `init` for good."""
    store = Store(tmp_path / "c.sqlite")
    auth = Auth(store)
    auth.add_user("duty", PASSWORD, "duty_officer")
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": []}))

    async def broker_gone(site: str, gateway: str, command: Command, ttl: float) -> None:
        raise ConnectionError("the broker connection failed")
    app = build_api(store, auth, EventHub(), broker_gone)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        duty = await bearer(client, "duty")
        response = await client.post("/api/commands", headers=duty,
                                     json={"site": "s1", "gateway": "gw1", "action": "rebirth", "expires_in": 60})
        assert response.status_code == 202
        queued = store.command(response.json()["id"])
        assert queued is not None and queued["state"] == "init" and queued["expires"] > 0
        assert [c["id"] for c, _ in store.pending_commands("gw1", queued["created"])] == [queued["id"]]
    store.close()
