"""The agent's own health for heartbeats: CPU share, memory, disk, read from /proc (no extra package)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from devices.contract import Health

__all__ = ["ProcessHealth"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ProcessHealth:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._last = (time.monotonic(), self._cpu_seconds())

    @staticmethod
    def _cpu_seconds() -> float:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime

    def sample(self) -> Health:
        """This process's share of a heartbeat's health (the agent adds the rest)."""
        now, cpu = time.monotonic(), self._cpu_seconds()
        then, cpu_then = self._last
        self._last = (now, cpu)
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
        disk = shutil.disk_usage(self.data_dir)
        return Health(cpu_percent=round(100 * (cpu - cpu_then) / max(now - then, 1e-6), 1),
                      rss_mb=round(rss / 2**20, 1), disk_free_mb=round(disk.free / 2**20, 1),
                      load1=round(os.getloadavg()[0], 2))
