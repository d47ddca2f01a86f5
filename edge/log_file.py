"""The agent's own log, kept on its disk for when someone asks (the `logs` command): one JSON object a line,
in a file that rolls over at a size (agent.log, agent.log.1, ...), so a gateway's logs survive a restart
and never fill its SD card. Reading picks lines by time, level and text, newest last, bounded in bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = ["LEVELS", "LogFile"]

LEVELS: Final = ("debug", "info", "warning", "error", "critical")


class LogFile:
    def __init__(self, path: Path, gateway: str, *, max_bytes: int = 4 * 1024 * 1024, keep: int = 3) -> None:
        self.path, self.gateway = path, gateway
        self.max_bytes, self.keep = max_bytes, keep
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: Mapping[str, Any]) -> None:
        """A log event (devices.logs sink): this gateway's, or the process's own (no gateway named)."""
        if event.get("gateway") not in (None, self.gateway):
            return
        line = {"t": round(time.time(), 3), "level": str(event.get("level", "info")),
                "event": str(event.get("event", ""))}
        line.update({k: v for k, v in event.items() if k not in line and k not in ("timestamp", "_record")})
        text = json.dumps(line, ensure_ascii=False, default=str) + "\n"
        if self.path.exists() and self.path.stat().st_size + len(text) > self.max_bytes:
            self._roll()
        with self.path.open("a", encoding="utf-8") as out:
            out.write(text)

    def _roll(self) -> None:
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self.path.with_name(f"{self.path.name}.{self.keep + 1}").unlink(missing_ok=True)

    def query(self, since: float, until: float, level: str = "info", text: str = "",
              max_bytes: int = 1024 * 1024) -> tuple[bytes, int, bool]:
        """Lines from `since` to `until` at `level` or above containing `text`, oldest first; the newest
        `max_bytes` of them if there are more. (the lines, how many, whether some were left out)"""
        floor = LEVELS.index(level) if level in LEVELS else 1
        files = [self.path.with_name(f"{self.path.name}.{n}") for n in range(self.keep, 0, -1)] + [self.path]
        picked: list[str] = []
        for file in files:
            if not file.exists():
                continue
            for raw in file.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    line = json.loads(raw)
                    t, lvl = float(line["t"]), str(line.get("level", "info"))
                except (ValueError, KeyError, TypeError):
                    continue
                if since <= t <= until and (LEVELS.index(lvl) if lvl in LEVELS else 1) >= floor and text in raw:
                    picked.append(raw)
        out: list[str] = []
        size = 0
        for raw in reversed(picked):  # the newest first, until the budget is spent
            if size + len(raw) + 1 > max_bytes:
                break
            out.append(raw)
            size += len(raw) + 1
        out.reverse()
        return ("\n".join(out) + "\n" if out else "").encode(), len(out), len(out) < len(picked)
