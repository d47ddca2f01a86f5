"""The one module that imports amqtt: a pure-Python MQTT broker for the one-command demo only.

On loopback, with password authentication (amqtt's persistent sessions only work with it on). amqtt
has known defects (shared subscriptions deliver nothing, so the demo's collector subscribes plainly; no
back-pressure), so it is never the production broker nor the one the reliability tests trust: those use
mosquitto. It is an optional extra (`pip install firefleet[demo]`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

__all__ = ["embedded_broker"]


@contextlib.asynccontextmanager
async def embedded_broker(port: int, users: Mapping[str, str], folder: Path) -> AsyncIterator[str]:
    """Run amqtt on 127.0.0.1:port with these users (name -> password); yields the broker's URL base."""
    from amqtt.broker import Broker  # the demo extra: imported only when a demo runs
    from pwdlib.hashers.argon2 import Argon2Hasher

    for name in ("amqtt", "transitions", "passlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    password_file = folder / "amqtt.passwd"
    hasher = Argon2Hasher()
    password_file.write_text("".join(f"{name}:{hasher.hash(pw)}\n" for name, pw in users.items()))
    password_file.chmod(0o600)
    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 500}},
        "plugins": {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(password_file)}},
    })
    await broker.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await broker.shutdown()
