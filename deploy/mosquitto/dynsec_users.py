#!/usr/bin/env python3
"""Broker accounts for a firefleet district, in mosquitto's dynamic-security file. Python stdlib only.

    dynsec_users.py add-gateway GATEWAY_ID [--file FILE]     a gateway's account; prints ID:PASSWORD once
    dynsec_users.py add-collector NAME [--file FILE]          a collector's account (one per process)

Why dynamic security and not an acl_file: mosquitto checks an acl_file only when it delivers a message,
so a gateway's credentials could join the collectors' shared subscription (`$share/...`), be handed
every n-th message and have it dropped there; and nothing in an acl_file binds a client id to a user.
The dynamic-security plugin refuses the SUBSCRIBE itself, and every gateway account is bound to its
client id (`ff-GATEWAY_ID`, what the agent uses), so one gateway's credentials cannot take over another
gateway's session either. What a gateway may do, and nothing more:

    publish    ff/v1/+/ID/{birth,death,alarms,events,telemetry,heartbeat}
    subscribe  ff/v1/+/ID/ack, ff/v1/+/ID/command, ff/v1/collector/state (never a wildcard of others',
               never $share)

Collectors may read everything under ff/v1 (plainly or through the shared group `ff-collectors`) and
publish acks, commands and their state. The file is read by mosquitto at start: restart the broker after
adding accounts (gateways reconnect and lose nothing), or add them live with `mosquitto_ctrl dynsec`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path("/var/lib/mosquitto/dynamic-security.json")
ITERATIONS = 100_000  # PBKDF2-SHA512, as the plugin stores its own
SHARE_GROUP = "ff-collectors"
UPLINK = ("birth", "death", "alarms", "events", "telemetry", "heartbeat")


def _empty() -> dict[str, Any]:
    return {"defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True, "subscribe": False,
                                 "unsubscribe": True},
            "clients": [], "groups": [], "roles": [_collector_role()]}


def _collector_role() -> dict[str, Any]:
    acls = [{"acltype": "subscribePattern", "topic": "ff/v1/#", "priority": 0, "allow": True},
            {"acltype": "subscribePattern", "topic": f"$share/{SHARE_GROUP}/ff/v1/#", "priority": 0, "allow": True}]
    acls += [{"acltype": "publishClientSend", "topic": topic, "priority": 0, "allow": True}
             for topic in ("ff/v1/+/+/ack", "ff/v1/+/+/command", "ff/v1/collector/state")]
    return {"rolename": "collector", "acls": acls}


def _gateway_role(gateway: str) -> dict[str, Any]:
    acls = [{"acltype": "publishClientSend", "topic": f"ff/v1/+/{gateway}/{kind}", "priority": 0, "allow": True}
            for kind in UPLINK]
    acls += [{"acltype": "subscribePattern", "topic": f"ff/v1/+/{gateway}/{kind}", "priority": 0, "allow": True}
             for kind in ("ack", "command")]
    acls.append({"acltype": "subscribeLiteral", "topic": "ff/v1/collector/state", "priority": 0, "allow": True})
    return {"rolename": f"gateway-{gateway}", "acls": acls}


def _client(username: str, password: str, role: str, clientid: str | None) -> dict[str, Any]:
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    entry = {"username": username, "password": base64.b64encode(digest).decode(),
             "salt": base64.b64encode(salt).decode(), "iterations": ITERATIONS, "roles": [{"rolename": role}]}
    if clientid is not None:
        entry["clientid"] = clientid  # this account connects with this client id only
    return entry


def add(file: Path, username: str, *, gateway: bool) -> str:
    config = json.loads(file.read_text()) if file.exists() else _empty()
    if any(c.get("username") == username for c in config["clients"]):
        raise SystemExit(f"{username} already has an account in {file}")
    password = secrets.token_urlsafe(18)
    if gateway:
        role = _gateway_role(username)
        config["roles"] = [r for r in config["roles"] if r["rolename"] != role["rolename"]] + [role]
        config["clients"].append(_client(username, password, role["rolename"], f"ff-{username}"))
    else:
        if not any(r["rolename"] == "collector" for r in config["roles"]):
            config["roles"].append(_collector_role())
        config["clients"].append(_client(username, password, "collector", None))
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out, indent=1)
    os.replace(tmp, file)
    return password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("add-gateway", "add-collector"))
    parser.add_argument("name")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", args.name):
        print("names are lower-case letters, digits and dashes", file=sys.stderr)
        return 2
    password = add(args.file, args.name, gateway=args.action == "add-gateway")
    print(f"{args.name}:{password}")
    print("restart the broker to apply (systemctl restart mosquitto)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
