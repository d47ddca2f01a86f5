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


def register_notify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sim-notify", help="a notification provider on loopback (SMS, voice, WeChat Work and "
                                               "DingTalk robots) that calls the collector back")
    parser.add_argument("--port", type=int, default=8765, help="loopback port (default 8765)")
    parser.add_argument("--collector", default="http://127.0.0.1:8080", help="where receipts and replies go")
    parser.add_argument("--secret-env", default="FF_NOTIFY_SECRET",
                        help="environment variable holding the SMS and voice account's secret")
    parser.add_argument("--dingtalk-secret-env", default="", help="environment variable of the DingTalk robot's secret")
    parser.set_defaults(run=_run_notify)


def _run_notify(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import signal

    from devices.errors import SiteConfigError
    from devices.logs import configure_logging
    from simulators.notify_provider import Provider, running_provider

    secret = os.environ.get(args.secret_env, "")
    if not secret:
        raise SiteConfigError(f"set {args.secret_env} to the SMS and voice account's secret", field="--secret-env")
    configure_logging()
    provider = Provider(secret, args.collector.rstrip("/"),
                        os.environ.get(args.dingtalk_secret_env, "") if args.dingtalk_secret_env else "")

    async def main() -> int:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with running_provider(provider, port=args.port):
            print(f"notification provider on {provider.url} (callbacks to {provider.collector})", flush=True)
            await stop.wait()
        return 0

    return asyncio.run(main())


def register_centre(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sim-centre", help="a city monitoring centre speaking GB/T 26875.3 on loopback")
    parser.add_argument("--port", type=int, default=9000, help="TCP port (default 9000)")
    parser.add_argument("--address", type=lambda v: int(v, 0), default=1, help="the centre's address (default 1)")
    parser.add_argument("--duty-check-every", type=float, default=0.0, metavar="S",
                        help="send every connected device a duty check this often (0: never)")
    parser.add_argument("--clock-sync-every", type=float, default=0.0, metavar="S",
                        help="send every connected device a clock sync this often (0: never)")
    parser.add_argument("--mischief-every", type=float, default=0.0, metavar="S",
                        help="send every connected device a frame with a bad checksum and one with a wrong length "
                             "this often, and deny its next send (0: never)")
    parser.set_defaults(run=_run_centre)


def _run_centre(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal
    import time
    from datetime import datetime

    from devices.logs import configure_logging
    from simulators.monitoring_centre import Centre, describe, running_centre

    configure_logging()
    centre = Centre(args.address, on_receive=lambda got: print(describe(got), flush=True))

    async def every(seconds: float, act: str) -> None:
        while seconds > 0:
            await asyncio.sleep(seconds)
            for device in list(centre._writers):
                with contextlib.suppress(LookupError, ConnectionError):
                    if act == "duty":
                        await centre.duty_check(device)
                    elif act == "clock":
                        await centre.clock_sync(device, datetime.fromtimestamp(int(time.time())))
                    else:
                        await centre.mischief(device)
                        centre.deny_next += 1

    async def main() -> int:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        async with running_centre(centre, port=args.port), asyncio.TaskGroup() as tg:
            print(f"monitoring centre (GB/T 26875.3) on 127.0.0.1:{centre.port}, address {centre.address:#x}",
                  flush=True)
            tasks = [tg.create_task(every(args.duty_check_every, "duty")),
                     tg.create_task(every(args.clock_sync_every, "clock")),
                     tg.create_task(every(args.mischief_every, "mischief"))]
            await stop.wait()
            for task in tasks:
                task.cancel()
        return 0

    return asyncio.run(main())
