"""Issue 13: two collector processes, one PostgreSQL database, one mosquitto with a shared subscription.
Every collector's event stream shows every alarm, whichever collector stored it; the once-only jobs run on
one of them, and when that one is killed with SIGKILL the other takes them over within 10 s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.agents import eventually
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto
from tests.support.postgres import own_database, unreachable

SITE, GATEWAY = "shed-xixi-01", "gw-shed-xixi-01"
INVENTORY = (f"sites:\n  - {{id: {SITE}, name: 西溪路1号充电棚, kind: charging_shed, street: 西溪街道, "
             f"gateway: {GATEWAY}}}\n")


def leaders(url: str) -> list[str]:
    """The collectors (firefleet-collector-PID) holding the leadership lock."""
    import psycopg

    from cloud.leadership import LEADER_SQL

    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute(LEADER_SQL.encode()).fetchall()]


def leading(url: str, collector: CollectorProcess) -> bool:
    assert collector.proc is not None
    return leaders(url) == [f"firefleet-collector-{collector.proc.pid}"]


async def send_alarms(broker: Mosquitto, first: int, count: int) -> None:
    """A gateway's alarm records, one message each (the shared subscription spreads messages)."""
    import aiomqtt

    from devices.protocol import encode

    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=GATEWAY) as gateway:
        for n in range(first, first + count):
            record = {"id": f"a:{n}", "type": "alarm", "site": SITE, "key": f"sd1/k{n}", "state": "active",
                      "class": "fire", "severity": 1, "device": "sd1", "rule": f"k{n}", "t": time.time(),
                      "mono": float(n), "trusted": True}
            await gateway.publish(f"ff/v1/{SITE}/{GATEWAY}/alarms",
                                  encode({"boot": "b", "seq": n + 1, "records": [record]}), qos=1)


async def keys_seen(queue: asyncio.Queue[dict[str, object]], seen: set[str], want: set[str], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not want <= seen:
            seen.add(str((await queue.get())["key"]))


@contextlib.asynccontextmanager
async def two_collectors(tmp_path: Path) -> AsyncIterator[tuple[Mosquitto, str, CollectorProcess, CollectorProcess]]:
    """A mosquitto, a database of its own, and two collectors on both (skipped where no PostgreSQL answers)."""
    why = unreachable()
    if why:
        pytest.skip(why)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    with own_database() as url:
        one = CollectorProcess(tmp_path / "one", broker.url, inventory=inventory, db=url)
        two = CollectorProcess(tmp_path / "two", broker.url, inventory=inventory, db=url)
        try:
            await one.start()
            await two.start()
            yield broker, url, one, two
        finally:
            for collector in (one, two):
                collector.kill()
                if collector.proc is not None:
                    await collector.proc.wait()
            broker.stop()


def stored_and_alarms(url: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(records, distinct record ids), (alarms, distinct alarm keys) in the shared store."""
    import psycopg

    with psycopg.connect(url) as db:
        stored = db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM records").fetchone()
        alarms = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM alarms").fetchone()
    assert stored is not None and alarms is not None
    return (int(stored[0]), int(stored[1])), (int(alarms[0]), int(alarms[1]))


async def test_two_collectors_share_one_database_every_screen_sees_every_alarm_and_the_lead_moves(
        tmp_path: Path) -> None:
    async with two_collectors(tmp_path) as (broker, url, one, two):
        async with one.events() as first_screen, two.events() as second_screen:
            await asyncio.sleep(1.5)  # both subscribed
            await send_alarms(broker, 0, 20)
            want = {f"sd1/k{n}" for n in range(20)}
            on_one: set[str] = set()
            on_two: set[str] = set()
            await asyncio.gather(keys_seen(first_screen, on_one, want, 30),
                                 keys_seen(second_screen, on_two, want, 30))
            assert on_one >= want and on_two >= want  # each collector stored some; both screens show all

        await eventually(lambda: leading(url, one) or leading(url, two), 15, "one collector leads")
        leader, other = (one, two) if leading(url, one) else (two, one)
        leader.kill()  # SIGKILL: its session ends, the server frees its lock
        killed_at = time.monotonic()
        await eventually(lambda: leading(url, other), 10, "the other collector leads within 10 s of the kill")
        print(f"leadership moved in {time.monotonic() - killed_at:.1f} s")
        async with other.events() as screen:
            await send_alarms(broker, 20, 5)
            seen: set[str] = set()
            await keys_seen(screen, seen, {f"sd1/k{n}" for n in range(20, 25)}, 30)  # the survivor takes all
        stored, alarms = stored_and_alarms(url)
        assert stored == (25, 25), "a record lost or stored twice"
        assert alarms == (25, 25), "an alarm lost or shown twice"


async def test_a_collector_killed_mid_stream_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """A gateway streams fire records (one message each, spread over both collectors by the shared
    subscription) and resends whatever is not acknowledged, as an agent's outbox does; one collector is
    killed with SIGKILL in the middle. Every record is stored once, every alarm is on the surviving
    collector's screen (where a console reconnects), and the lead is the survivor's."""
    import aiomqtt

    from devices.downlink_auth import Verifier, load_public_keys
    from devices.protocol import encode
    from tests.support.keys import public_key

    total, kill_at = 120, 40
    verifier = Verifier(load_public_keys([public_key()]), GATEWAY)
    async with two_collectors(tmp_path) as (broker, url, one, two):
        await eventually(lambda: leading(url, one) or leading(url, two), 15, "one collector leads")
        victim, survivor = (one, two) if leading(url, one) else (two, one)
        acked: set[int] = set()
        async with survivor.events() as screen, aiomqtt.Client("127.0.0.1", broker.port,
                                                                 identifier=GATEWAY) as gateway:
            await gateway.subscribe(f"ff/v1/{SITE}/{GATEWAY}/ack", qos=1)

            async def acks() -> None:
                async for message in gateway.messages:
                    body = verifier.open("ack", bytes(message.payload))
                    acked.update(int(i.split(":")[1]) for i in body["ids"])

            listener = asyncio.get_running_loop().create_task(acks())
            await asyncio.sleep(1.5)  # both subscribed
            seq = 0

            async def send(n: int) -> None:
                nonlocal seq
                seq += 1
                record = {"id": f"a:{n}", "type": "alarm", "site": SITE, "key": f"sd1/k{n}", "state": "active",
                          "class": "fire", "severity": 1, "device": "sd1", "rule": f"k{n}", "t": time.time(),
                          "mono": float(n), "trusted": True}
                await gateway.publish(f"ff/v1/{SITE}/{GATEWAY}/alarms",
                                      encode({"boot": "b", "seq": seq, "records": [record]}), qos=1)

            for n in range(total):
                if n == kill_at:
                    victim.kill()  # SIGKILL mid-stream: what it held unacknowledged comes again
                await send(n)
                await asyncio.sleep(0.02)
            deadline = time.monotonic() + 60
            while len(acked) < total and time.monotonic() < deadline:
                await asyncio.sleep(2.0)
                for n in sorted(set(range(total)) - acked):
                    await send(n)  # the outbox's resend
            assert len(acked) == total, f"never acknowledged: {sorted(set(range(total)) - acked)[:10]}"
            seen: set[str] = set()
            await keys_seen(screen, seen, {f"sd1/k{n}" for n in range(total)}, 30)
            listener.cancel()
        await eventually(lambda: leading(url, survivor), 10, "the survivor leads")
        stored, alarms = stored_and_alarms(url)
        assert stored == (total, total), "a record lost or stored twice"
        assert alarms == (total, total), "an alarm lost or shown twice"
