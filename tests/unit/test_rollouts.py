"""Staged rollouts (issue 16.1), the collector's half: stages (canary first, online gateways in it), the
next stage only once the earlier ones settled (offline gateways do not hold it up), the stop when failures
pass the threshold with what was not taken up cancelled, and the gateways' own states read from their
commands. The store half runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from cloud.rollout_job import advance_rollouts
from cloud.rollout_plan import Decision, Target, decide, stages
from cloud.store import Store
from cloud.store.rollouts import PACKAGES_KEPT
from devices.agent_package import wheel_version
from devices.config_bundle import bundle_digest
from devices.contract import CommandState, as_birth
from edge.config_sets import ConfigSets, PrepareRefused
from edge.update_guard import guard, point, read_state, write_state
from tests.support.rollout import bundle


def test_stages_put_the_canary_first_with_online_gateways_and_batch_the_rest() -> None:
    gateways = [("a", False), ("b", True), ("c", True), ("d", True), ("e", True), ("f", False)]
    assert stages(gateways, 0.2, 2) == {"b": 0, "c": 0, "d": 1, "e": 1, "a": 2, "f": 2}
    assert stages(gateways, 0.0, 10) == {"b": 0, "c": 1, "d": 1, "e": 1, "a": 1, "f": 1}  # at least one canary
    assert stages(gateways, 0.0, 10, first=1)["a"] == 0  # an admin's chosen canary, offline or not


def test_the_next_stage_waits_for_the_canary_and_failures_past_the_threshold_stop_it() -> None:
    def t(gw: str, stage: int, state: str = "", online: bool = True) -> Target:
        return Target(gw, stage, state, online, reason="identity 1.18" if state == "rolled_back" else "")
    assert decide([t("a", 0), t("b", 1)], 0) == Decision(send=("a",))
    assert decide([t("a", 0, "verify"), t("b", 1)], 0) == Decision()  # the canary has not settled
    assert decide([t("a", 0, "successful"), t("b", 1), t("c", 1)], 0) == Decision(send=("b", "c"))
    assert decide([t("a", 0, "init", online=False), t("b", 1)], 0) == Decision(send=("b",))  # gets it when back
    stopped = decide([t("a", 0, "rolled_back"), t("b", 1)], 0)
    assert stopped.stop.startswith("1 gateway(s) failed, more than the 0 allowed")
    assert "a: identity 1.18" in stopped.stop
    assert decide([t("a", 0, "rolled_back"), t("b", 1)], 1) == Decision(send=("b",))
    assert decide([t("a", 0, "successful"), t("b", 1, "expired")], 0).complete


def birth(store: Store, n: int, street: str, online: bool = True) -> None:
    store.save_birth(f"site-{n}", f"gw-{n}", as_birth({"boot": "b", "site": f"site-{n}", "place": {
        "name": f"Site {n}", "kind": "charging_shed", "street": street}}))
    if not online:
        store.sql.execute("UPDATE gateways SET online = 0 WHERE id = ?", (f"gw-{n}",))


def report(store: Store, gateway: str, command: str, state: str, reason: str = "") -> None:
    n = gateway.removeprefix("gw-")
    store.store_records(f"site-{n}", gateway, [CommandState(id=f"{gateway}:{command}:{state}", site=f"site-{n}",
                                                            t=time.time(), mono=1.0, trusted=True, command=command,
                                                            state=state, reason=reason)])  # type: ignore[arg-type]


def test_a_rollout_goes_stage_by_stage_and_stops_on_a_canary_failure(store_at: str) -> None:
    store = Store(store_at)
    for n in range(1, 5):
        birth(store, n, "西溪街道", online=n != 4)
    payload = {"action": "configure", "bundle": {"sha256": "0" * 64, "profiles": {"a.yaml": "id: a"}}}
    stage_of = stages([(g["gateway"], g["online"]) for g in store.rollout_candidates()], 0.25, 2)
    rid = store.add_rollout(who="admin", action="configure", description="a.yaml", payload=payload, digest="0" * 64,
                            targets={"street": "西溪街道"}, max_failures=0,
                            stage_of={g: (f"site-{g[3:]}", s) for g, s in stage_of.items()})
    sent = advance_rollouts(store, time.time())
    assert [gw for _, gw, _ in sent] == ["gw-1"]  # the canary alone
    command = sent[0][2]
    assert command["bundle"]["profiles"] == {"a.yaml": "id: a"} and command["action"] == "configure"
    assert store.pending_commands("gw-1", time.time() + 6 * 86400)  # durable for days: an offline gateway
    assert advance_rollouts(store, time.time()) == []
    report(store, "gw-1", command["id"], "verify")
    assert advance_rollouts(store, time.time()) == []
    report(store, "gw-1", command["id"], "successful", "set 000 running")
    sent = advance_rollouts(store, time.time())
    assert sorted(gw for _, gw, _ in sent) == ["gw-2", "gw-3"]
    second = {gw: cmd["id"] for _, gw, cmd in sent}
    report(store, "gw-2", second["gw-2"], "rolled_back", "sd-guard: identity; back on the installed files")
    assert advance_rollouts(store, time.time()) == []
    found = store.rollout(rid)
    assert found is not None and found["state"] == "stopped" and "gw-2: sd-guard" in found["reason"]
    states = {g["gateway"]: (g["state"], g["stage"]) for g in found["gateways"]}
    assert states == {"gw-1": ("successful", 0), "gw-2": ("rolled_back", 1), "gw-3": ("cancelled", 1),
                      "gw-4": ("", 2)}  # gw-3 had not taken it up; gw-4 never got it
    assert store.pending_commands("gw-3", time.time()) == []
    assert (found["successful"], found["failed"]) == (1, 1)
    actions = [a["action"] for a in store.audit_log(50)]
    assert "rollout created" in actions and "rollout stopped" in actions and actions.count("command") == 3
    steps = [(a["who"], json.loads(a["details"])["state"]) for a in store.audit_log(50, action="rollout step")]
    assert steps[::-1] == [("gw-1", "verify"), ("gw-1", "successful"), ("gw-2", "rolled_back")]
    store.close()


def test_the_gateway_refuses_a_forged_bundle_and_recovers_from_a_kill_in_each_step(tmp_path: Path) -> None:
    site = Path(__file__).resolve().parents[2] / "deploy/examples/sites/fire-cabinets.yaml"
    sets = ConfigSets(tmp_path, site, None)
    good = bundle()
    forged: Any = type(good)(sha256=good.sha256, profiles={"hengan-sd100-fw1.yaml": "id: x\n"})
    with pytest.raises(PrepareRefused, match="checksum"):
        sets.prepare("cmd-1", forged)
    name, loaded, _ = sets.prepare("cmd-2", good)
    assert name == bundle_digest("", good.profiles) and loaded.id == "cabinets-cuiyuan-01"
    assert sets.current() == ""  # prepared, not applied
    sets.apply("cmd-2", name)
    assert sets.current() == name
    assert json.loads((tmp_path / "config" / "operation.json").read_text())["state"] == "apply"
    recovered, _ = ConfigSets(tmp_path, site, None).start()  # as after a kill in the middle of the apply
    assert recovered is not None and recovered.state == "rolled_back" and "during apply" in recovered.reason
    assert ConfigSets(tmp_path, site, None).current() == ""
    sets.refused("cmd-3", name, "")  # (any record) then a kill while the next one was preparing:
    (tmp_path / "config" / "operation.json").write_text(json.dumps(
        {"command": "cmd-3", "state": "prepare", "target": name, "previous": ""}))
    recovered, _ = ConfigSets(tmp_path, site, None).start()
    assert recovered is not None and recovered.state == "failed" and "while preparing" in recovered.reason
    assert ConfigSets(tmp_path, site, None).current() == ""


def test_the_update_guard_counts_starts_and_switches_back_after_three_or_at_the_deadline(tmp_path: Path) -> None:
    root, data = tmp_path / "opt", tmp_path / "data"
    (root / "agents" / "0.1.1").mkdir(parents=True)
    (root / "agents" / "0.1.2").mkdir()
    data.mkdir()
    point(root, str(root / "agents" / "0.1.2"))
    verify = {"command": "cmd-1", "state": "verify", "version": "0.1.2", "previous": str(root / "agents" / "0.1.1"),
              "deadline": 1000.0, "starts": 0, "reported": True}
    write_state(data, verify)
    assert guard(data, root, now=10.0) == "update to 0.1.2: start 1 of at most 3"
    guard(data, root, now=11.0)
    guard(data, root, now=12.0)
    assert (root / "current").resolve().name == "0.1.2"  # three starts allowed
    said = guard(data, root, now=13.0)
    assert said == "agent 0.1.2 did not start (3 tries): back on 0.1.1"
    assert (root / "current").resolve().name == "0.1.1"
    state = read_state(data)
    assert state is not None and state["state"] == "rolled_back" and state["reported"] is False
    assert guard(data, root, now=14.0) == ""  # nothing under way: nothing to do

    point(root, str(root / "agents" / "0.1.2"))
    write_state(data, verify)
    assert "did not report healthy in time" in guard(data, root, now=2000.0)  # late: back at once
    assert (root / "current").resolve().name == "0.1.1"


def test_only_a_firefleet_wheel_of_the_version_named_is_taken(tmp_path: Path) -> None:
    import zipfile

    def wheel(name: str, version: str) -> bytes:
        path = tmp_path / f"{name}-{version}.whl"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(f"{name}-{version}.dist-info/METADATA",
                       f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n")
        return path.read_bytes()
    assert wheel_version(wheel("firefleet", "0.2.0")) == "0.2.0"
    with pytest.raises(ValueError, match="not a firefleet wheel"):
        wheel_version(wheel("evil", "0.2.0"))
    with pytest.raises(ValueError, match="not a wheel"):
        wheel_version(b"PK not really")


async def test_the_rollout_api_refuses_what_it_cannot_check_and_serves_wheels_by_their_digest(tmp_path: Path) -> None:
    import hashlib
    import io
    import zipfile

    import httpx

    from cloud.api import build_api
    from cloud.auth import Auth
    from cloud.event_hub import EventHub

    store = Store(tmp_path / "c.sqlite")
    auth = Auth(store)
    for role in ("admin", "maintenance"):
        auth.add_user(role, "correct horse battery", role)
    birth(store, 1, "西溪街道")

    async def sent(*_: object) -> None:
        return None
    app = build_api(store, auth, EventHub(), sent)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        async def as_user(user: str) -> dict[str, str]:
            answer = await client.post("/api/login", json={"user": user, "password": "correct horse battery",
                                                            "token": True})
            return {"Authorization": f"Bearer {answer.json()['token']}"}
        admin, maintenance = await as_user("admin"), await as_user("maintenance")
        good = {"target": {"gateway": "gw-1"}, "profiles": {"a.yaml": "id: a"}}
        assert (await client.post("/api/rollouts", headers=maintenance, json=good)).status_code == 403
        for bad, field in (({**good, "action": "delete"}, "action"), ({**good, "target": {"gw": "x"}}, "target"),
                           ({**good, "profiles": {"../etc.yaml": "x"}}, "profiles"),
                           ({**good, "max_failures": -1}, "max_failures")):
            refused = await client.post("/api/rollouts", headers=admin, json=bad)
            assert refused.status_code == 400 and refused.json()["params"]["field"] == field, refused.text
        unchecked = await client.post("/api/rollouts", headers=admin, json={**good, "profiles": {"a.yaml": "id: ["}})
        assert unchecked.status_code == 422 and unchecked.json()["code"] == "config_refused"

        def wheel(metadata: str) -> bytes:
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
                z.writestr("firefleet-0.2.0.dist-info/METADATA", metadata)
            return out.getvalue()
        bomb = wheel("Name: firefleet\nVersion: 0.2.0\n" + "x" * 3_000_000)  # a few kB that unpack to 3 MB
        assert len(bomb) < 20_000
        answer = await client.post("/api/packages", headers=admin, content=bomb)
        assert answer.status_code == 400 and "METADATA" in answer.json()["error"]
        body = wheel("Metadata-Version: 2.4\nName: firefleet\nVersion: 0.2.0\n")
        uploaded = await client.post("/api/packages", headers=admin, content=body)
        assert uploaded.status_code == 201 and uploaded.json()["version"] == "0.2.0"
        sha = hashlib.sha256(body).hexdigest()
        fetched = await client.get(f"/api/packages/{sha}.whl")  # a gateway: no login, the digest is the key
        assert fetched.status_code == 200 and fetched.content == body
        assert (await client.get(f"/api/packages/{'0' * 64}.whl")).status_code == 404
        made = await client.post("/api/rollouts", headers=admin, json={"action": "update", "package": sha,
                                                                        "target": {"street": "西溪街道"}})
        assert made.status_code == 201, made.text
        assert made.json()["description"] == "agent 0.2.0"
    (_, payload, _, _), = store.running_rollouts()
    assert payload["package"] == {"url": f"http://collector/api/packages/{sha}.whl", "sha256": sha,
                                  "version": "0.2.0", "healthy_s": 120.0}
    store.close()


def test_old_agent_wheels_are_dropped_but_not_one_a_running_rollout_hands_out(store_at: str) -> None:
    store = Store(store_at)
    birth(store, 1, "西溪街道")
    first = store.add_package("a" * 64, "firefleet-0.0.1-py3-none-any.whl", "0.0.1", b"wheel 1", "admin")
    store.add_rollout(who="admin", action="update", description="agent 0.0.1", digest=first["sha256"],
                      payload={"action": "update"}, targets={"all": True}, stage_of={"gw-1": ("site-1", 0)},
                      max_failures=0)
    for n in range(2, PACKAGES_KEPT + 3):
        store.add_package(f"{n:064x}", f"firefleet-0.0.{n}-py3-none-any.whl", f"0.0.{n}", b"wheel", "admin")
    kept = {p["version"] for p in store.packages()}
    assert len(kept) == PACKAGES_KEPT + 1 and "0.0.1" in kept and "0.0.2" not in kept
    store.close()
