"""`firefleet edge --config SITE_FILE [--broker URL ...] [--data-dir DIR] [--bus-map served.json]`."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("edge", help="run the edge agent of one site")
    parser.add_argument("--config", type=Path, required=True, help="the site file")
    parser.add_argument("--broker", action="append",
                        help="mqtt://user:pass@host:1883 or mqtts://...; repeat it for backup brokers, tried in turn "
                             "when the one in use fails; none: run local rules only")
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument("--data-dir", type=Path, default=Path("/var/lib/firefleet"),
                        help="outbox and rule state (default /var/lib/firefleet)")
    parser.add_argument("--bus-map", type=Path, help="served.json of a simulator: where each bus really is")
    parser.add_argument("--profiles", type=Path, help="firmware profile folder")
    parser.add_argument("--collector-key", type=Path, action="append", metavar="PUB_FILE",
                        help="the collector's public signing key (firefleet keys generate); repeat it during a key "
                             "rotation. Required with --broker: commands, acks and the collector's state are "
                             "believed only when signed by it")
    parser.add_argument("--metrics", default="127.0.0.1:9464", metavar="HOST:PORT",
                        help="serve Prometheus metrics here (default 127.0.0.1:9464, loopback only; 'off': none)")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats (default 30)")
    parser.add_argument("--updates", type=Path, metavar="ROOT",
                        help="where agent versions are installed (ROOT/current, ROOT/agents/VERSION; the systemd unit "
                             "starts ROOT/current/bin/firefleet): lets the collector roll out new agent versions")
    parser.add_argument("--check", action="store_true",
                        help="check the site file against the profiles, print what it describes, and exit")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from edge.main import run_from_args  # late: `firefleet profiles` stays light

    return run_from_args(args)
