"""Log transitions, not repetitions: an outage is logged when it starts and when it ends, once each."""

from __future__ import annotations

from typing import Any

__all__ = ["Episodes"]


class Episodes:
    def __init__(self, logger: Any) -> None:
        self._log = logger
        self._open: dict[str, int] = {}  # episode key -> occurrences while open

    def problem(self, key: str, event: str, **fields: Any) -> bool:
        """Record one occurrence; logs (and returns True) only for the first of an episode."""
        if key in self._open:
            self._open[key] += 1
            return False
        self._open[key] = 1
        self._log.warning(event, **fields)
        return True

    def resolved(self, key: str, event: str, **fields: Any) -> bool:
        count = self._open.pop(key, None)
        if count is None:
            return False
        self._log.info(event, occurrences=count, **fields)
        return True

    def is_open(self, key: str) -> bool:
        return key in self._open

