"""`firefleet cloud [--db PATH|postgresql://...] [--broker URL] [--inventory FILE] [--no-shared]`: the collector."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("cloud", help="run the cloud collector")
    parser.add_argument("--db", default="firefleet-cloud.sqlite",
                        help="the store: a SQLite file (default firefleet-cloud.sqlite), or postgresql://user@host/db "
                             "(several collectors may share one; needs the postgres extra)")
    parser.add_argument("--broker", action="append",
                        help="mqtt://user:pass@host:port (default mqtt://127.0.0.1:1883); repeat it to consume from "
                             "every broker gateways may fail over to")
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
    parser.add_argument("--notifications", type=Path, metavar="FILE",
                        help="the notification plan (YAML): people, SMS/voice providers and group robots, and rules "
                             "per alarm class and street (docs/operations.md)")
    parser.add_argument("--uitd", type=Path, metavar="MAPPING",
                        help="stand in for the mapped sites' user information transmission devices: GB/T 26875.3 "
                             "sessions to the city's monitoring centre (docs/gb26875.md)")
    parser.add_argument("--ticket-offline-after", type=float, default=600.0, metavar="SECONDS",
                        help="a device offline this long gets a maintenance ticket (default 600)")
    parser.add_argument("--upkeep-every", type=float, default=60.0, metavar="SECONDS",
                        help="how often tickets and readiness are re-evaluated (default 60)")
    parser.add_argument("--duty-check-every", type=float, default=0.0, metavar="SECONDS",
                        help="send a duty check (查岗) to the duty consoles this often (default 0: only when an "
                             "admin sends one)")
    parser.add_argument("--duty-check-within", type=float, default=60.0, metavar="SECONDS",
                        help="how long the officer on duty has to answer a scheduled duty check (default 60)")
    parser.add_argument("--signing-key", type=Path, metavar="KEY_FILE",
                        help="the collector's Ed25519 signing key (default: collector-signing.key beside a SQLite "
                             "--db, made on first start; required with PostgreSQL: every collector of a district signs "
                             "with the same key); gateways get its .pub with --collector-key")
    parser.add_argument("--profiles", type=Path, metavar="DIR",
                        help="firmware profiles that writes are checked against (default: the shipped ones)")
    parser.add_argument("--no-shared", action="store_true",
                        help="plain subscription, for a broker without shared subscriptions")
    parser.set_defaults(run=_run)


def register_keys(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="the collector's signing keys: what gateways believe")
    actions = parser.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="make a new key pair (NAME.key for the collector, NAME.pub "
                                                   "for every gateway)")
    generate.add_argument("--out", type=Path, required=True, help="folder to write the pair to")
    generate.add_argument("--name", default="collector-signing", help="file name stem (default collector-signing)")
    show = actions.add_parser("show", help="print the key id of a .key or .pub file (gateways log it)")
    show.add_argument("file", type=Path)
    parser.set_defaults(run=_keys)


def _keys(args: argparse.Namespace) -> int:
    from devices.downlink_auth import Signer, generate_keys, key_id, load_public_keys
    from devices.errors import SiteConfigError

    if args.keys_action == "generate":
        for existing in (args.out / f"{args.name}.key", args.out / f"{args.name}.pub"):
            if existing.exists():
                raise SiteConfigError(f"{existing} exists: a new key would lock out every gateway that trusts it; "
                                      "choose another --name for a rotation", field="--out")
        key, pub = generate_keys(args.out, args.name)
        print(f"{key} (collector, keep secret)\n{pub} (gateways: --collector-key)\nkey id "
              f"{next(iter(load_public_keys([pub])))}")
        return 0
    try:
        kid = key_id(Signer.from_file(args.file).public) if args.file.suffix == ".key" else \
            next(iter(load_public_keys([args.file])))
    except ValueError as exc:
        raise SiteConfigError(str(exc), field="file") from None
    print(kid)
    return 0


def _run(args: argparse.Namespace) -> int:
    from cloud.main import run_from_args

    return run_from_args(args)
