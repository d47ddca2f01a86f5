"""`firefleet sim --site FILE [--site FILE ...] [--control-port PORT]`: serve simulated devices."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sim", help="serve the devices of site files as hardware simulators")
    parser.add_argument("--site", action="append", type=Path, required=True, help="site file (repeatable)")
    parser.add_argument("--control-port", type=int, default=8470,
                        help="loopback port of the HTTP control API (0: any free port)")
    parser.add_argument("--scenario", type=Path, help="a scenario file to play (a timeline of steps)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="where pseudo-terminal links and served.json go (default: a temporary folder)")
    parser.add_argument("--profiles", type=Path, default=None, help="firmware profile folder")
    parser.add_argument("--pace", choices=("real", "none"), default="real",
                        help="pace RTU and serial lines at their baud rate (real) or answer at once (none)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from simulators.main import run_from_args  # imported late: `firefleet profiles` must stay light

    return run_from_args(args)


def register_fleet(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("fleet", help="run many lightweight simulated gateways from a plan (district demo)")
    parser.add_argument("--plan", type=Path, required=True, help="JSON list of sites with place and devices")
    parser.add_argument("--broker", required=True, help="mqtt://user:pass@host:port")
    parser.add_argument("--per-connection", type=int, default=100, help="gateways sharing one MQTT connection")
    parser.add_argument("--report-every", type=float, default=60.0,
                        help="seconds between a gateway's heartbeats and readings (default 60)")
    parser.add_argument("--collector-key", type=Path, action="append", required=True, metavar="PUB_FILE",
                        help="the collector's public signing key: like a real gateway, the fleet believes only "
                             "acks and commands it signed")
    parser.set_defaults(run=_run_fleet)


def _run_fleet(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from devices.broker_url import BrokerConfig
    from devices.downlink_auth import load_public_keys
    from simulators.gateway_fleet import run_fleet

    keys = load_public_keys(args.collector_key)

    async def main() -> int:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        return await run_fleet(args.plan, BrokerConfig.from_url(args.broker), keys, per_connection=args.per_connection,
                               report_every=args.report_every, stop=stop)

    return asyncio.run(main())
