"""Collector ingest: readings per second into the store (target >= 20,000/s embedded), on SQLite and on
PostgreSQL, side by side with the rate at which a bare MQTT subscriber drains the same stream from the
same broker.

A separate process publishes N telemetry messages (200 readings each, as an edge agent batches them)
to a mosquitto started here; first a bare aiomqtt subscriber drains them, then the collector (checks,
one transaction per message, ack) consumes the same stream, once per store (PostgreSQL: a database of its
own on the server at FIREFLEET_TEST_PG, default postgres@127.0.0.1, dropped after). Each is timed from
the first message to the last. The collector writes on its writer thread, as `firefleet cloud` does
(cloud.store.writer); `--inline` adds a run with the writes on the event loop, for comparison.

    python bench/ingest.py [--messages 500] [--stores sqlite,postgresql] [--inline]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.collector import Collector  # noqa: E402
from cloud.ingest import Ingest  # noqa: E402
from cloud.store import Store  # noqa: E402
from cloud.store.writer import StoreWriter  # noqa: E402
from devices.broker_url import BrokerConfig  # noqa: E402
from devices.contract import as_birth  # noqa: E402
from devices.mqtt_transport import MqttConnector  # noqa: E402
from devices.protocol import decode, encode  # noqa: E402
from tests.support.keys import signer  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

PER_MESSAGE = 200
SITE, GATEWAY = "shed-xixi-01", "gw-shed-xixi-01"
TOPIC = f"ff/v1/{SITE}/{GATEWAY}/telemetry"


async def publish(port: int, messages: int, tag: str) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-pub-{tag}", max_inflight_messages=100) as client:
        client.pending_calls_threshold = 10_000
        pending = []
        for m in range(messages):
            records = [{"id": f"{tag}:{m * PER_MESSAGE + i}", "type": "reading", "site": SITE,
                        "device": f"box{i % 10}", "values": {"port1.temperature": 20.0 + i % 7, "port1.current": 1.5,
                                                             "port1.power": 60 + i % 9},
                        "t": time.time(), "mono": 1.0, "trusted": True} for i in range(PER_MESSAGE)]
            pending.append(asyncio.ensure_future(client.publish(TOPIC, encode(
                {"boot": tag, "seq": m + 1, "records": records}), qos=1)))
            if len(pending) >= 50:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)


def start_publisher(port: int, messages: int, tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--publish", str(port), str(messages), tag])


async def bare_subscriber(port: int, messages: int) -> float:
    got = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare", max_queued_incoming_messages=0) as client:
        await client.subscribe(TOPIC, qos=1)
        publisher = start_publisher(port, messages, "bare")
        started = None
        async for message in client.messages:
            started = started or time.perf_counter()
            got += len(decode(bytes(message.payload)).get("records", []))
            if got >= messages * PER_MESSAGE:
                break
        elapsed = time.perf_counter() - (started or time.perf_counter())
    publisher.wait()
    return got / elapsed


async def collector_consumer(port: int, messages: int, location: str, inline: bool) -> tuple[float, int]:
    store = Store(location)
    writer = None if inline else StoreWriter(location)
    collector = Collector(MqttConnector(BrokerConfig("127.0.0.1", port)), store, Ingest({GATEWAY: SITE}), signer(),
                          shared=False, write=writer)
    task = asyncio.get_running_loop().create_task(collector.run())
    while not collector.connected:
        await asyncio.sleep(0.05)
    store.save_birth(SITE, GATEWAY, as_birth({"boot": "collector", "seq": 0, "bdseq": 1,
                                              "devices": [{"id": f"box{i}", "values": {}} for i in range(10)]}))
    publisher = start_publisher(port, messages, "collector")
    target = messages * PER_MESSAGE
    started = None
    while True:
        stored = store.count("readings")
        if stored and started is None:
            started = time.perf_counter()
        if stored >= target:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    publisher.wait()
    if writer is not None:
        writer.close()
    store.close()
    return target / elapsed, stored


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str | None]:
    if kind == "sqlite":
        yield str(folder / "cloud.sqlite")
        return
    from tests.support.postgres import own_database, unreachable

    why = unreachable()
    if why:
        print(f"  postgresql: skipped ({why})")
        yield None
        return
    with own_database() as url:
        yield url


async def run(messages: int, stores: list[str], inline: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="firefleet-ingest-"))
    broker = Mosquitto(folder / "mq")
    broker.start()
    try:
        total = messages * PER_MESSAGE
        print(f"stream: {messages} telemetry messages x {PER_MESSAGE} readings = {total} readings", flush=True)
        bare = await bare_subscriber(broker.port, messages)
        print(f"  bare MQTT subscriber drains        {bare:10,.0f} readings/s", flush=True)
        for kind in stores:
            for writes in ("inline", "thread") if inline else ("thread",):
                with database(kind, folder / writes) as location:
                    if location is None:
                        continue
                    stored_rate, stored = await collector_consumer(broker.port, messages, location, writes == "inline")
                print(f"  collector on {kind:10} (writes {writes:6}): {stored_rate:10,.0f} readings/s checked, "
                      f"stored, acked ({stored} stored, {stored_rate / bare:.2f}x the bare drain)", flush=True)
        print("target: >= 20,000 readings/s into the embedded store; >= 0.5x the bare drain")
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--inline", action="store_true", help="also run with the writes on the event loop")
    parser.add_argument("--publish", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        asyncio.run(publish(int(args.publish[0]), int(args.publish[1]), args.publish[2]))
        return
    asyncio.run(run(args.messages, args.stores.split(","), args.inline))


if __name__ == "__main__":
    main()
