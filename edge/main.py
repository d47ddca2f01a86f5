"""Start the agent from the command line; rebuild it when a `reload_config` command asks."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

import structlog

from devices.broker_failover import FailoverConnector
from devices.broker_url import BrokerConfig
from devices.downlink_auth import TrustedKeys, load_public_keys
from devices.errors import ProfileError, SiteConfigError
from devices.logs import configure_logging
from devices.mqtt_transport import Connector, MqttConnector
from edge.agent import EdgeAgent
from edge.config_sets import ConfigSets, load_set
from edge.line_load import line_loads
from edge.updates import Updates

__all__ = ["run_from_args"]

log = structlog.get_logger("firefleet.edge")
SHUTDOWN_BOUND_S = 15.0


def _bus_map(path: Path | None, site_id: str) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        served = json.loads(path.read_text())
        return dict(served["sites"][site_id])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SiteConfigError(f"bus map has no entry for site {site_id!r} ({exc})", file=str(path)) from None


def run_from_args(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    configure_logging()
    try:
        brokers = [BrokerConfig.from_url(url, args.ca_file) for url in args.broker or []]
    except ValueError as exc:
        raise SiteConfigError(str(exc), field="--broker") from None
    keys = {}
    if args.collector_key:
        try:
            keys = load_public_keys(args.collector_key)
        except ValueError as exc:
            raise SiteConfigError(str(exc), field="--collector-key") from None
    broker: BrokerConfig | Connector | None = None
    if len(brokers) == 1:
        broker = brokers[0]
    elif brokers:  # primary first, then the backups
        broker = FailoverConnector([MqttConnector(b) for b in brokers])
    return asyncio.run(_serve(args, broker, keys))


def _check(args: argparse.Namespace) -> int:
    """For the installer: the site file is read and checked as the agent would (errors raise with
    file:line [field] reason, which the command prints with exit status 1)."""
    site, profiles = load_set(args.config, args.profiles)
    print(f"{args.config}: site {site.id} ({site.name}, {site.street}), gateway {site.gateway_id}, "
          f"{len(site.buses)} buses, {len(site.devices)} devices, {len(site.interlocks)} interlocks: ok")
    for bus in site.buses:
        devices = ", ".join(f"{d.id}@{d.unit} {d.profile}" for d in site.devices_on(bus.id))
        print(f"  {bus.id:14} {bus.type:11} {devices}")
    for load in line_loads(site, profiles):
        print(f"  {load.bus.id:14} wire: {load.describe()}")
    return 0


async def _serve(args: argparse.Namespace, broker: BrokerConfig | Connector | None,
                 keys: TrustedKeys) -> int:
    sets = ConfigSets(args.data_dir, args.config, args.profiles)
    while True:
        recovered, note = sets.start()  # an operation a kill interrupted goes back to the last good set
        if note:
            log.warning(note)
        try:
            site, profiles = load_set(*sets.paths())
        except (SiteConfigError, ProfileError) as exc:
            if not sets.current():
                raise
            log.error("the installed configuration set does not load: running the given files", reason=str(exc))
            sets.use_given()
            site, profiles = load_set(*sets.paths())
        agent = EdgeAgent(site, profiles, args.data_dir, broker=broker, bus_map=_bus_map(args.bus_map, site.id),
                          heartbeat_s=args.heartbeat, collector_keys=keys,
                          metrics_at=None if args.metrics == "off" else args.metrics, config_sets=sets,
                          recovered=recovered, updates=Updates(args.updates, args.data_dir) if args.updates else None)
        agent.install_signal_handlers()
        running = asyncio.get_running_loop().create_task(agent.run(), name="agent")
        asked = asyncio.get_running_loop().create_task(agent.stopping.wait(), name="stop-requested")
        await asyncio.wait({running, asked}, return_when=asyncio.FIRST_COMPLETED)
        asked.cancel()
        done, _ = await asyncio.wait({running}, timeout=SHUTDOWN_BOUND_S)
        if not done:
            # Everything accepted is already committed to the outbox; only buffered telemetry (at most
            # a second) is lost by leaving now. A stuck shutdown must not keep a gateway from restarting.
            log.error("shutdown did not finish in time: exiting anyway", seconds=SHUTDOWN_BOUND_S)
            os._exit(1)
        running.result()
        if not agent.reload_requested:
            return 0
