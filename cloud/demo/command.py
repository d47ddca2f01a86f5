"""`firefleet demo [--broker URL] [--scale small|district|city] [--headless] [--duration S] [--port P]`: the whole
system in one command."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run a simulated district end to end (simulators, agents, collector)")
    parser.add_argument("--broker", help="use this broker (mqtt://user:pass@host:port, which must let those "
                                         "credentials act for every gateway); default: an embedded one")
    parser.add_argument("--scale", choices=("small", "district", "city"), default="small",
                        help="small: 6 sites with full agents; district: the district's proportions (about 70 "
                             "stations, 90 sheds, 2,000 cabinets), the rest as lightweight simulated gateways; "
                             "city: 25,000 sites into two collectors (needs --store postgresql://... and --broker, "
                             "a mosquitto: the embedded broker holds a district, not a city)")
    parser.add_argument("--store", metavar="DB",
                        help="the collector's store: postgresql://user@host/db (an empty database of its own; needs "
                             "the postgres extra), default: a SQLite file in the run folder")
    parser.add_argument("--headless", action="store_true", help="no console; exit when --duration is over")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--port", type=int, default=None,
                        help="HTTP port of the console and API (default 8080, or a free one when 8080 is taken)")
    parser.add_argument("--run-dir", type=Path, default=None, help="where everything is kept (default: temporary)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from cloud.demo.run import run_demo

    return run_demo(args)
