"""`firefleet cloud [--db PATH] [--broker URL] [--inventory FILE] [--no-shared]`: the collector."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("cloud", help="run the cloud collector")
    parser.add_argument("--db", type=Path, default=Path("firefleet-cloud.sqlite"), help="SQLite store")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://user:pass@host:port")
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument("--inventory", type=Path, help="sites, streets and gateways (YAML)")
    parser.add_argument("--open-enrolment", action="store_true",
                        help="accept gateways the inventory does not list (they are enrolled at first sight; "
                             "for a lab or a demo, not for production)")
    parser.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT of the HTTP API (default 127.0.0.1:8080)")
    parser.add_argument("--user", action="append", metavar="NAME:ROLE:PASSWORD",
                        help="create or reset a user at start (roles: duty_officer, maintenance, district_viewer, "
                             "admin)")
    parser.add_argument("--roster", action="append", metavar="NAME",
                        help="the duty roster, in escalation order (repeatable)")
    parser.add_argument("--webhook", help="URL to POST escalated alarms to (JSON)")
    parser.add_argument("--smtp", metavar="HOST:PORT", help="SMTP server for e-mail about escalated alarms")
    parser.add_argument("--smtp-from", default="firefleet@localhost", help="sender address of those e-mails")
    parser.add_argument("--email", action="append", metavar="NAME=ADDRESS",
                        help="e-mail address of a person on the roster (repeatable)")
    parser.add_argument("--ticket-offline-after", type=float, default=600.0, metavar="SECONDS",
                        help="a device offline this long gets a maintenance ticket (default 600)")
    parser.add_argument("--upkeep-every", type=float, default=60.0, metavar="SECONDS",
                        help="how often tickets and readiness are re-evaluated (default 60)")
    parser.add_argument("--no-shared", action="store_true",
                        help="plain subscription, for a broker without shared subscriptions")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from cloud.main import run_from_args

    return run_from_args(args)
