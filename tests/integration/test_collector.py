"""The collector with a real mosquitto, real simulators and a real edge agent: alarms arrive with their
site, street, device and class; a collector killed mid-stream loses nothing and shows nothing twice."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.keys import public_key, signing_key, trusted_keys
from tests.support.mosquitto import Mosquitto

SHED = SITES / "charging-shed.yaml"
SITE = "shed-xixi-01"
INVENTORY = """\
sites:
  - {id: shed-xixi-01, name: 西溪路1号充电棚, kind: charging_shed, street: 西溪街道, gateway: gw-shed-xixi-01}
"""


async def start_collector(tmp_path: Path, broker: Mosquitto, db: str | None = None) -> asyncio.subprocess.Process:
    """`db`: the store's location (default: cloud.sqlite in tmp_path)."""
    from tests.support.mosquitto import free_port

    tmp_path.mkdir(parents=True, exist_ok=True)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devices.cli", "cloud", "--db", db or str(tmp_path / "cloud.sqlite"),
        "--broker", broker.url, "--inventory", str(inventory), "--http", f"127.0.0.1:{free_port()}",
        "--signing-key", str(signing_key()),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=open(tmp_path / "collector.log", "ab"))


async def collector_listening(broker: Mosquitto) -> None:
    """Until the collector has subscribed: it publishes its retained online state right after (a fixed
    sleep lost the race on a loaded machine, and messages sent before it subscribed were gone)."""
    import aiomqtt

    from devices.protocol import COLLECTOR_STATE_TOPIC

    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="collector-watch") as watch:
        await watch.subscribe(COLLECTOR_STATE_TOPIC, qos=1)
        async with asyncio.timeout(30):
            async for _ in watch.messages:
                return


def query(where: Path | str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows from the collector's store: `where` a test folder (its cloud.sqlite) or the store's location
    (a SQLite path or a postgresql:// URL). Nothing yet (no file, no table) -> []."""
    if isinstance(where, str) and where.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(where) as pg:
            try:
                return pg.execute(sql.replace("?", "%s").encode(), args).fetchall()
            except psycopg.errors.UndefinedTable:
                return []
    path = where / "cloud.sqlite" if isinstance(where, Path) else Path(where)
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


async def test_smoke_reaches_the_store_and_a_killed_collector_loses_nothing(tmp_path: Path, store_at: str) -> None:
    """On SQLite and on PostgreSQL (issue 13): a collector killed with SIGKILL and restarted on the same store."""
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = await start_collector(tmp_path, broker, store_at)
    try:
        async with (running_simulation([SHED], tmp_path / "run") as sim,
                    running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url) as agent):
            sd1, sd3 = sim.sim.device(SITE, "sd1"), sim.sim.device(SITE, "sd3")
            sd1.set_signals({"smoke_alarm": True}, hold=True)
            await eventually(lambda: query(store_at, "SELECT site, street, device, class, condition FROM alarms "
                                                     "WHERE key = 'sd1/smoke'"), 30, "the smoke alarm stored")
            assert query(store_at, "SELECT site, street, device, class, condition FROM alarms WHERE key = 'sd1/smoke'"
                         ) == [(SITE, "西溪街道", "sd1", "fire", "active")]
            # a stream of alarms (a tamper switch toggling), with the collector killed in the middle of it;
            # each state held longer than the line's slowest read of it (its cut inputs' round, ~0.6-0.8 s
            # at 9600 baud on this overloaded line: edge --check), so that none is missed by sampling
            for step in range(12):
                sd3.set_signals({"tamper": step % 2 == 0}, hold=True)
                await asyncio.sleep(1.6)
                if step == 4:
                    collector.kill()
                    await collector.wait()
                if step == 8:
                    collector = await start_collector(tmp_path, broker, store_at)
            await eventually(lambda: agent.outbox.depth()["alarm"]["records"] == 0, 40, "every alarm acknowledged")
            stored = query(store_at, "SELECT COUNT(*) FROM records WHERE type = 'alarm'")[0][0]
            assert stored == agent.alarms_recorded, "an alarm record was lost or stored twice"
            tamper = query(store_at, "SELECT id, handling, count FROM alarms WHERE key = 'sd3/tamper'")
            assert len(tamper) == 1, f"one alarm for the tamper condition, folded: {tamper}"
            assert tamper[0][2] >= 5
            open_keys = query(store_at, "SELECT key, COUNT(*) FROM alarms WHERE handling != 'closed' GROUP BY key "
                                        "HAVING COUNT(*) > 1")
            assert open_keys == [], "an alarm shown twice"
    finally:
        collector.kill()
        await collector.wait()
        broker.stop()


async def test_an_alarm_appears_on_the_event_stream_with_where_and_what(tmp_path: Path) -> None:
    from tests.support.collector_process import CollectorProcess

    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = CollectorProcess(tmp_path / "cloud", broker.url)
    await collector.start()
    try:
        async with (collector.events() as events,
                    running_simulation([SHED], tmp_path / "run") as sim,
                    running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url)):
            await asyncio.sleep(3)
            sim.sim.device(SITE, "sd2").set_signals({"alarm_state": "alarm"}, hold=True)
            async with asyncio.timeout(20):
                while True:
                    event = await events.get()
                    if event["key"] == "sd2/smoke":
                        break
            assert (event["site"], event["street"], event["device"], event["class"], event["condition"]) == (
                SITE, "西溪街道", "sd2", "fire", "active")
    finally:
        await collector.stop()
        broker.stop()


async def test_a_gateway_that_dies_is_shown_offline_within_a_minute(tmp_path: Path) -> None:
    """Power cut or cable pulled: the gateway is frozen (SIGSTOP), so its TCP connection stays open but goes
    silent, as it would; the broker notices the missed keep-alives and publishes the gateway's will; the
    collector believes it because it carries the current birth's bdseq."""
    import time

    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = await start_collector(tmp_path, broker)
    agent = None
    try:
        async with running_simulation([SHED], tmp_path / "run"):
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "devices.cli", "edge", "--config", str(SHED), "--data-dir", str(tmp_path / "d"),
                "--bus-map", str(tmp_path / "run" / "served.json"), "--broker", broker.url,
                "--collector-key", str(public_key()), stdout=asyncio.subprocess.DEVNULL,
                stderr=open(tmp_path / "collector.log", "ab"))  # noqa: SIM115
            await eventually(lambda: query(tmp_path, "SELECT online FROM gateways WHERE id = 'gw-shed-xixi-01'")
                             == [(1,)], 30, "the gateway's birth")
            agent.send_signal(signal.SIGSTOP)
            cut = time.monotonic()
            await eventually(lambda: query(tmp_path, "SELECT online FROM gateways WHERE id = 'gw-shed-xixi-01'")
                             == [(0,)], 60, "the gateway shown offline")
            print(f"gateway shown offline {time.monotonic() - cut:.1f} s after it went silent")
            # Issue 10.7, reproduced on the old main: no alarm at all, and every device still 'online'.
            expected = [("gw-shed-xixi-01/comm-lost", "fault", "active")]  # one, not one per device
            # (query() reads another process's SQLite and answers [] while it is busy: read until it answers)
            await eventually(lambda: query(tmp_path, "SELECT key, class, condition FROM alarms") == expected, 10,
                             "the communication fault")
            assert time.monotonic() - cut < 60
            from cloud.store import Store

            store = Store(tmp_path / "cloud.sqlite")
            assert {d["online"] for d in store.devices()} == {None}  # unknown, not a stale 'online'
            store.close()
            agent.send_signal(signal.SIGCONT)
            await eventually(lambda: query(tmp_path, "SELECT condition FROM alarms") == [("cleared",)], 60,
                             "the communication fault cleared by the gateway's next birth")
    finally:
        if agent is not None and agent.returncode is None:
            agent.kill()
            await agent.wait()
        collector.kill()
        await collector.wait()
        broker.stop()


async def test_bad_messages_are_refused_and_the_collector_keeps_running(tmp_path: Path) -> None:
    import aiomqtt

    from devices.protocol import encode

    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = await start_collector(tmp_path, broker)
    good = {"id": "x:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1,
            "site": SITE, "device": "sd1", "t": 1.0, "mono": 1.0, "trusted": False}
    try:
        await collector_listening(broker)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="rogue") as client:
            base = f"ff/v1/{SITE}/gw-shed-xixi-01"
            for topic, payload in [
                (f"{base}/alarms", b"\xc1 not msgpack"),
                (f"{base}/alarms", encode({"boot": "b", "seq": 1, "records": [{**good, "state": 7}]})),
                (f"{base}/alarms", b"\x80" + b"y" * 300_000),
                (f"{base}/alarms", encode({"boot": "b", "seq": 2, "records": [{**good, "site": "other"}]})),
                ("ff/v1/shed-xixi-01/gw-unknown/alarms", encode({"boot": "b", "seq": 1, "records": [good]})),
                ("ff/v1/station-wenxin-01/gw-shed-xixi-01/alarms", encode({"boot": "b", "seq": 3, "records": [good]})),
                # well formed, but before any birth (a collector that started after its gateways): it asks
                # for a birth and keeps the heartbeat
                (f"{base}/heartbeat", encode({"boot": "b", "seq": 4, "health": {"outbox": 0}})),
                (f"{base}/death", encode({"boot": "b", "bdseq": 9})),
                (f"{base}/alarms", encode({"boot": "b", "seq": 5, "records": [good]})),  # and then a good one
            ]:
                await client.publish(topic, payload, qos=1)
        await eventually(lambda: ("sd1/smoke",) in query(tmp_path, "SELECT key FROM alarms"), 20,
                         "the good alarm stored after the bad ones")
        assert sorted(query(tmp_path, "SELECT key FROM alarms")) == [("gw-shed-xixi-01/ingest-error",), ("sd1/smoke",)]
        assert collector.returncode is None, "the collector died"
        assert query(tmp_path, "SELECT COUNT(*) FROM records") == [(1,)]
        kept = query(tmp_path, "SELECT reason FROM quarantine ORDER BY id")
        assert len(kept) == 4 and any("record.state" in r for (r,) in kept), kept  # from the known gateway only
        assert query(tmp_path, "SELECT id, online, health FROM gateways") == [("gw-shed-xixi-01", 1, '{"outbox": 0}')]
    finally:
        collector.kill()
        await collector.wait()
        broker.stop()


async def test_one_bad_record_neither_crash_loops_the_collector_nor_comes_back_forever(tmp_path: Path) -> None:
    """Issue 11.1, reproduced on the old main: an alarm with `t: "x"` was stored, then escalation died on it
    and took the collector down, again after every restart; it was never acknowledged, so resent forever."""
    import time

    import aiomqtt

    from devices.downlink_auth import Verifier
    from devices.protocol import encode

    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = await start_collector(tmp_path, broker)
    verifier = Verifier(trusted_keys(), "gw-shed-xixi-01")
    base = f"ff/v1/{SITE}/gw-shed-xixi-01"
    now = time.time()
    alarm = {"type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1, "site": SITE,
             "device": "sd1", "t": now, "mono": 1.0, "trusted": True}
    offline = {"type": "event", "site": SITE, "device": "sd1", "kind": "device_offline", "details": {},
               "mono": 1.0, "trusted": True}
    acked: list[str] = []
    try:
        await collector_listening(broker)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gw-shed-xixi-01") as gw:
            await gw.subscribe(f"{base}/ack", qos=1)
            birth = {"boot": "b", "seq": 1, "bdseq": 1, "site": SITE,
                     "devices": [{"id": "sd1", "values": {"smoke": False}}]}
            await gw.publish(f"{base}/birth", encode(birth), qos=1)
            await gw.publish(f"{base}/birth", encode({**birth, "devices": [{"id": "sd1", "values": [1, 2]}]}), qos=1)
            await gw.publish(f"{base}/alarms", encode({"boot": "b", "seq": 2, "records": [
                {**alarm, "id": "b:1", "t": "x"}, {**alarm, "id": "b:2", "t": None}, {**alarm, "id": "b:3",
                                                                                      "t": float("nan")},
                {**alarm, "id": "b:4", "t": [1]}, {**alarm, "id": "b:5"}]}), qos=1)
            await gw.publish(f"{base}/events", encode({"boot": "b", "seq": 3, "records": [
                {**offline, "id": "b:6", "t": "x"}, {**offline, "id": "b:7", "t": now}]}), qos=1)

            async def read_acks() -> None:
                async for message in gw.messages:
                    acked.extend(verifier.open("ack", bytes(message.payload))["ids"])
                    if len(acked) >= 7:
                        return
            async with asyncio.timeout(20):
                await read_acks()
        assert sorted(acked) == [f"b:{n}" for n in range(1, 8)], "every record acknowledged, the bad ones too"
        await asyncio.sleep(3)  # the background jobs (ticket upkeep at start, escalation's look) over the bad input
        assert collector.returncode is None, "the collector died"
        collector.kill()
        await collector.wait()
        collector = await start_collector(tmp_path, broker)
        await asyncio.sleep(4)
        assert collector.returncode is None, "the collector died again after a restart"
        alarms = dict(query(tmp_path, "SELECT key, count FROM alarms"))
        assert alarms == {"sd1/smoke": 1, "gw-shed-xixi-01/ingest-error": 6}, alarms
        kept = query(tmp_path, "SELECT record_id, reason FROM quarantine ORDER BY id")
        # alarms come in on their own connection (fire first): kept in arrival order, not publish order
        reasons = {rid: reason for rid, reason in kept}
        assert sorted(reasons, key=str) == sorted([None, "b:1", "b:2", "b:3", "b:4", "b:6"], key=str)
        assert "devices[0].values" in reasons[None] and "record.t" in reasons["b:1"]
    finally:
        collector.kill()
        await collector.wait()
        broker.stop()


async def test_two_collectors_split_the_gateways_messages_through_a_shared_subscription(tmp_path: Path) -> None:
    import aiomqtt

    from devices.protocol import encode

    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    first = await start_collector(tmp_path / "one", broker)
    second = await start_collector(tmp_path / "two", broker)
    try:
        await asyncio.sleep(1.5)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gw-shed-xixi-01") as gateway:
            for n in range(40):
                record = {"id": f"g:{n}", "type": "event", "site": SITE, "device": "sd1", "kind": "action",
                          "details": {}, "t": 1.0, "mono": 1.0, "trusted": True}
                await gateway.publish(f"ff/v1/{SITE}/gw-shed-xixi-01/events",
                                      encode({"boot": "b", "seq": n + 1, "records": [record]}), qos=1)

        def stored(folder: Path) -> int:
            rows = query(folder, "SELECT COUNT(*) FROM records")
            return rows[0][0] if rows else 0
        await eventually(lambda: stored(tmp_path / "one") + stored(tmp_path / "two") >= 40, 20, "40 records stored")
        assert stored(tmp_path / "one") + stored(tmp_path / "two") == 40  # each message to one collector only
        assert stored(tmp_path / "one") > 0 and stored(tmp_path / "two") > 0
    finally:
        for proc in (first, second):
            proc.kill()
            await proc.wait()
        broker.stop()
