"""systemd notifications (sd_notify) over NOTIFY_SOCKET with the standard library: READY, WATCHDOG, STOPPING."""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_period"]


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1", "WATCHDOG=1") to systemd; False when not run under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            return False
    return True


def watchdog_period() -> float | None:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC), the interval to send WATCHDOG=1 at; None if unset."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit():
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2e6
