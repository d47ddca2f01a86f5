"""The edge agent against real simulators and a real mosquitto that the test starts and stops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.collector_standin import running_standin
from tests.support.keys import public_key
from tests.support.mosquitto import Mosquitto

SHED = SITES / "charging-shed.yaml"
SITE = "shed-xixi-01"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "mosquitto")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


async def test_overheat_cuts_the_port_locally_and_the_alarm_reaches_mqtt(tmp_path: Path, broker: Mosquitto) -> None:
    async with (running_simulation([SHED], tmp_path / "run") as sim,
                running_standin(broker.port) as collector,
                running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url)):
        box = sim.sim.device(SITE, "box1")
        box.set_signals({"port1.relay": True, "port2.relay": True, "port3.relay": True})
        await collector.wait_for(lambda r: r.births, 20)
        box.set_signals({"port3.temperature": 71.5}, hold=True)
        await eventually(lambda: box.value("port3.relay") is False, 30, "port 3 relay cut")
        key = "box1/port-overheat-cut/port3"
        await collector.wait_for(lambda r: any(a["state"] == "active" for a in r.alarms(key)), 20)
        alarm = collector.received.alarms(key)[0]
        assert (alarm["class"], alarm["device"], alarm["site"], alarm["value"]) == ("prewarning", "box1", SITE, 71.5)
        await collector.wait_for(lambda r: any(
            rec.get("kind") == "action" and rec["details"]["point"] == "port3.relay"
            and rec["details"]["result"] == "verified" for rec in r.records.values()), 20)
        assert box.value("port1.relay") is True and box.value("port2.relay") is True  # neighbours keep charging

        # Issue 10.2, reproduced on the old main: a restore of port 3 at 71.5 C was 'successful', the port
        # powered and never cut again. Now the interlock outranks the person, and re-asserts itself.
        gateway = "gw-shed-xixi-01"

        def state(cid: str) -> dict[str, str]:
            done = [r for r in collector.received.records.values() if r.get("type") == "command"
                    and r["command"] == cid and r["state"] in ("successful", "failed")]
            return done[-1] if done else {}
        restore = {"action": "write", "device": "box1", "point": "port3.relay", "value": True}
        await collector.send_command(SITE, gateway, {"id": "r-1", **restore})
        await collector.wait_for(lambda r: state("r-1"), 20)
        assert state("r-1")["state"] == "failed" and "interlock box1/port-overheat-cut/port3 holds" in state(
            "r-1")["reason"] and "71.5" in state("r-1")["reason"]
        assert box.value("port3.relay") is False
        box.set_signals({"port3.relay": True})  # someone switches it back on at the box itself
        started = asyncio.get_running_loop().time()
        await eventually(lambda: box.value("port3.relay") is False, 10, "the interlock re-asserting its cut")
        assert asyncio.get_running_loop().time() - started < 2.5, "not re-asserted within a poll or two"
        await collector.send_command(SITE, gateway, {"id": "r-2", **restore,
                                                     "override": {"reason": "fire officer on site, probe faulty"}})
        await collector.wait_for(lambda r: state("r-2"), 20)
        assert state("r-2")["state"] == "successful", state("r-2")
        await asyncio.sleep(2.0)  # several polls: an audited override is not undone while it lasts
        assert box.value("port3.relay") is True
        await collector.wait_for(lambda r: any(rec.get("kind") == "interlock_override" for rec in r.records.values()))


async def test_smoke_with_the_broker_down_cuts_the_shed_and_everything_arrives_later(
        tmp_path: Path, broker: Mosquitto) -> None:
    async with (running_simulation([SHED], tmp_path / "run") as sim,
                running_standin(broker.port) as collector,
                running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url) as agent):
        box1, box2, sd1 = (sim.sim.device(SITE, d) for d in ("box1", "box2", "sd1"))
        box1.set_signals({f"port{n}.relay": True for n in range(1, 11)})
        box2.set_signals({f"port{n}.relay": True for n in range(1, 21)})
        await collector.wait_for(lambda r: r.births and any(k == "telemetry" for k, _ in r.order), 20)

        broker.stop()
        collector.acking = False
        sd1.set_signals({"smoke_alarm": True}, hold=True)
        await eventually(lambda: not any(box1.value(f"port{n}.relay") for n in range(1, 11))
                         and not any(box2.value(f"port{n}.relay") for n in range(1, 21)), 30,
                         "every port in the shed cut with no network")
        await eventually(lambda: agent.outbox.depth()["alarm"]["records"] >= 2, 10, "alarms in the outbox")
        await eventually(lambda: agent.outbox.depth()["event"]["records"] >= 30, 20, "30 action events")
        seen_before = len(collector.received.order)

        broker.start()
        await collector.wait_for(lambda r: {"sd1/smoke", "site/shed-smoke-cut"} <= {a["key"] for a in r.alarms()}, 40)
        await collector.wait_for(lambda r: sum(1 for rec in r.records.values() if rec.get("kind") == "action") >= 30,
                                 30)
        # Alarms before telemetry: every alarm waiting in the outbox came before any queued telemetry.
        replay = collector.received.order[seen_before:]
        kinds = [kind for kind, _ in replay]
        assert kinds[0] == "alarms"
        if "telemetry" in kinds:
            assert max(i for i, k in enumerate(kinds) if k == "alarms") < kinds.index("telemetry")
        assert all(collector.received.records[i]["historical"] for k, i in replay if k == "alarms")
        # Nothing is deleted at the edge before the collector acknowledges it...
        assert agent.outbox.depth()["alarm"]["records"] >= 2
        await collector.ack_pending()
        await eventually(lambda: agent.outbox.depth()["alarm"]["records"] == 0
                         and agent.outbox.depth()["event"]["records"] == 0, 20, "outbox drained after the ack")
        # ...and nothing arrived twice once de-duplicated by id: one record per transition.
        transitions = [(a["key"], a["state"], a["t"]) for a in collector.received.alarms()]
        assert len(transitions) == len(set(transitions))
        fire = collector.received.alarms("site/shed-smoke-cut")
        assert [a["state"] for a in fire] == ["active"] and fire[0]["class"] == "fire"


async def test_every_alarm_survives_twenty_kill_9(tmp_path: Path, broker: Mosquitto) -> None:
    """The agent is SIGKILLed 20 times while a detector's tamper switch toggles; every alarm record the
    agent had accepted before a kill (found in its outbox after the kill) reaches the collector. The
    collector holds its acks during the kills, so every record must live through every kill."""
    import asyncio
    import random
    import sqlite3
    import sys

    data = tmp_path / "data"
    rng = random.Random(20)
    accepted: set[str] = set()
    async with (running_simulation([SHED], tmp_path / "run") as sim,
                running_standin(broker.port) as collector):
        sd1 = sim.sim.device(SITE, "sd1")
        collector.acking = False
        command = [sys.executable, "-m", "devices.cli", "edge", "--config", str(SHED), "--data-dir", str(data),
                   "--bus-map", str(tmp_path / "run" / "served.json"), "--broker", broker.url, "--heartbeat", "2",
                   "--collector-key", str(public_key())]

        def outbox_alarm_ids() -> set[str]:
            db = sqlite3.connect(data / "outbox.sqlite")
            try:
                outbox_id = db.execute("SELECT value FROM meta WHERE key = 'outbox_id'").fetchone()[0]
                rows = db.execute("SELECT row FROM records WHERE lane = 'alarm'").fetchall()
            finally:
                db.close()
            return {f"{outbox_id}:{row}" for (row,) in rows}

        for kill in range(20):
            proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            await asyncio.sleep(1.2)
            sd1.set_signals({"tamper": kill % 2 == 0}, hold=True)
            await asyncio.sleep(rng.uniform(0.8, 2.5))
            proc.kill()
            await proc.wait()
            accepted |= outbox_alarm_ids()

        final = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                     stderr=asyncio.subprocess.DEVNULL)
        try:
            await collector.wait_for(lambda r: accepted <= r.records.keys(), 60)
            await collector.ack_pending()
            await eventually(lambda: not outbox_alarm_ids(), 30, "the outbox emptied by the acks")
        finally:
            final.terminate()
            try:
                await asyncio.wait_for(final.wait(), 20)
            except TimeoutError:
                final.kill()
                await final.wait()
                raise AssertionError("the agent did not stop within 20 s of SIGTERM") from None
    tamper = [a for a in collector.received.alarms("sd1/tamper")]
    assert len(tamper) >= 10, f"only {len(tamper)} tamper alarms: the test did not exercise the agent"
    assert len(accepted) >= 10, f"only {len(accepted)} alarms were in the outbox across the kills"
    assert collector.errors == []


async def test_commands_from_the_collector_run_and_report_their_states(tmp_path: Path, broker: Mosquitto) -> None:
    async with (running_simulation([SHED], tmp_path / "run") as sim,
                running_standin(broker.port) as collector,
                running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url)):
        box = sim.sim.device(SITE, "box1")
        box.set_signals({"port5.relay": True})
        await collector.wait_for(lambda r: r.births, 20)
        gateway = "gw-shed-xixi-01"
        await collector.send_command(SITE, gateway, {"id": "c-1", "action": "write", "device": "box1",
                                                     "point": "port5.relay", "value": False})
        await collector.send_command(SITE, gateway, {"id": "c-2", "action": "write", "device": "box9",
                                                     "point": "port5.relay", "value": False})
        await collector.send_command(SITE, gateway, {"id": "c-3", "action": "rebirth"})

        def states(cid: str) -> list[str]:
            return [r["state"] for r in collector.received.records.values()
                    if r.get("type") == "command" and r["command"] == cid]
        await collector.wait_for(lambda r: states("c-1")[-1:] == ["successful"] and states("c-2")[-1:] == ["failed"]
                                 and states("c-3")[-1:] == ["successful"], 20)
        assert states("c-1") == ["executing", "successful"]
        assert box.value("port5.relay") is False
        failed = next(r for r in collector.received.records.values()
                      if r.get("type") == "command" and r["command"] == "c-2" and r["state"] == "failed")
        assert "unknown device 'box9'" in failed["reason"]
        await collector.wait_for(lambda r: len(r.births) >= 2, 10)  # the rebirth
        # the agent checks every write again, whatever reached it signed (defence in depth, issue 10.1)
        box.set_signals({"port6.relay": False})
        await collector.send_command(SITE, gateway, {"id": "c-4", "action": "write", "device": "box1",
                                                     "point": "port6.energy", "value": 1})
        await collector.send_command(SITE, gateway, {"id": "c-5", "action": "write", "device": "box1",
                                                     "point": "port6.relay", "value": 7})
        await collector.wait_for(lambda r: states("c-4")[-1:] == ["failed"] and states("c-5")[-1:] == ["failed"], 20)
        reasons = {r["command"]: r["reason"] for r in collector.received.records.values()
                   if r.get("type") == "command" and r["state"] == "failed"}
        assert "read-only" in reasons["c-4"] and "true or false" in reasons["c-5"]
        assert box.value("port6.relay") is False and box.value("port6.energy") != 1


async def test_link_outages_leave_no_gap_in_seq_and_bdseq_counts_connections(tmp_path: Path,
                                                                             broker: Mosquitto) -> None:
    """Issue 10.11, reproduced on the old main: after every outage seq jumped (4 -> 6), which made the
    collector ask for a rebirth each time, and bdseq counted failed connection attempts, not connections.
    The gateway's link is cut (the broker and the collector stay up and see everything)."""
    from cloud.demo.link_cutter import LinkCutter

    cutter = LinkCutter("127.0.0.1", broker.port)
    await cutter.start()
    try:
        async with (running_simulation([SHED], tmp_path / "run") as sim,
                    running_standin(broker.port) as collector,
                    running_agent(SHED, sim, tmp_path / "data", broker_url=f"mqtt://127.0.0.1:{cutter.port}",
                                  heartbeat_s=0.5) as agent):
            await collector.wait_for(lambda r: r.births and len(r.heartbeats) >= 2, 20)
            for outage in range(2):
                cutter.cut()
                await asyncio.sleep(3.0)  # several failed attempts (reconnect cap 1 s)
                cutter.restore()
                await collector.wait_for(lambda r, n=outage: len(r.births) >= n + 2, 30)
            await collector.wait_for(lambda r: len(r.heartbeats) >= 8, 20)
            births = collector.received.births
            assert [b["bdseq"] for b in births] == [1, 2, 3]
            assert agent.uplink is not None and agent.uplink.bdseq == 3
            seqs = set(collector.received.seqs)
            assert set(range(1, max(seqs) + 1)) - seqs == set(), "a seq was never sent"
            assert collector.received.seqs[0] == 1
    finally:
        await cutter.close()
