"""Interlocks outrank people (DESIGN section 11).

An interlock whose condition holds owns the points its actions write: a person's write that would undo
one is refused unless the command carries an override with a reason (audited at the collector, and here
as an `interlock_override` event), which lasts while that interlock holds. And whatever undid it (a person
at the box, a forged or mistaken command), the interlock puts its action back within one poll of the point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog

from devices.errors import ActionRefused
from edge.rules import RuleEngine, RuleInstance

__all__ = ["InterlockRefused", "Interlocks"]


class InterlockRefused(ActionRefused, ValueError):
    """A write that would undo an interlock that holds (the reason is the command's answer)."""


class Interlocks:
    def __init__(self, engine: RuleEngine, *, write: Callable[[str, str, Any, str], object],
                 event: Callable[[str, str, Mapping[str, Any]], None],
                 log: structlog.typing.FilteringBoundLogger) -> None:
        self.engine = engine
        self._write = write
        self._event = event
        self._log = log
        self.writing: set[tuple[str, str]] = set()  # (device, point) with a write queued or in flight
        self._overridden: dict[str, set[tuple[str, str]]] = {}  # interlock key -> points a person overrode

    def holding(self, device: str, point: str, value: Any) -> RuleInstance | None:
        """The active rule whose action wants this point otherwise (latched ones too: reset them first)."""
        for inst in self.engine.acting():
            for action in inst.actions:
                if (action.device, action.point) == (device, point) and action.value != value:
                    return inst
        return None

    def reassert(self, device: str, values: Mapping[str, Any]) -> None:
        """Put back any action of a holding interlock that a fresh poll shows undone (unless overridden)."""
        for inst in self.engine.acting():
            for action in inst.actions:
                if action.device != device or action.point not in values or values[action.point] == action.value:
                    continue
                if (device, action.point) in self.writing or (device, action.point) in self._overridden.get(
                        inst.key, set()):
                    continue
                self._log.warning("interlock re-asserted", key=inst.key, device=device, point=action.point)
                self._write(device, action.point, action.value, f"{inst.key}:re-asserted")

    def released(self, key: str) -> None:
        """The interlock cleared: an override of it ends with it."""
        self._overridden.pop(key, None)

    def permit(self, command_id: str, device: str, point: str, value: Any, override: str | None) -> None:
        """Let a person's write through, or refuse it with the interlock that holds and its reading."""
        holding = self.holding(device, point, value)
        if holding is None:
            return
        if override is None or not override.strip():
            value = self.engine.values.get(holding.device, {}).get(holding.when.point) if holding.when else None
            shown = f" ({holding.when.point} = {value})" if value is not None and holding.when else ""
            raise InterlockRefused(f"refused: interlock {holding.key} holds{shown}; reset it on site first, "
                                   "or override with a reason", code="interlock_holds", interlock=holding.key)
        self._overridden.setdefault(holding.key, set()).add((device, point))
        self._event(device, "interlock_override", {"key": holding.key, "point": point, "command": command_id,
                                                   "reason": override[:200]})
        self._log.warning("interlock overridden", key=holding.key, device=device, point=point, reason=override)
