"""Start the collector from the command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import structlog

from cloud.collector import Collector
from cloud.ingest import Ingest
from cloud.inventory import load_inventory
from cloud.store import Store
from devices.broker_url import BrokerConfig
from devices.errors import SiteConfigError

__all__ = ["run_from_args"]


def run_from_args(args: argparse.Namespace) -> int:
    structlog.configure(processors=[structlog.processors.add_log_level,
                                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                                    structlog.processors.JSONRenderer()])
    try:
        broker = BrokerConfig.from_url(args.broker, args.ca_file)
    except ValueError as exc:
        raise SiteConfigError(str(exc), field="--broker") from None
    inventory = load_inventory(args.inventory) if args.inventory else None
    return asyncio.run(_serve(Path(args.db), broker, inventory, shared=not args.no_shared))


async def _serve(db: Path, broker: BrokerConfig, inventory: dict[str, dict[str, str]] | None, *, shared: bool) -> int:
    store = Store(db, streets={s: v["street"] for s, v in (inventory or {}).items()})
    gateways = {v["gateway"]: s for s, v in (inventory or {}).items()}
    collector = Collector(broker, store, Ingest(gateways, open_enrolment=inventory is None), shared=shared)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(collector.run(), name="collector")
            await stop.wait()
            task.cancel()
    finally:
        store.close()
    return 0
