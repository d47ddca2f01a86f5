"""Signed commands from the collector, run once each: executing, then successful or failed with a reason.

Each command runs in its own task (the MQTT receive loop goes on reading acks and the collector's state
meanwhile). A command id is run at most once, also across restarts: ids run within 8 days are kept in the
agent's state store (signed commands expire sooner: a rollout's step, the longest, after 7 days). A write
is checked against the interlocks first (edge.interlocks) and again against the profile by the bus worker.
Operations (configure, update) report their own steps: prepare, apply, verify, then the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

import structlog

from devices.contract import AgentPackage, Command, CommandStep, ConfigBundle, LogQuery
from edge.config_sets import OperationRolledBack
from edge.interlocks import Interlocks
from edge.state_store import StateStore

__all__ = ["CommandHost", "CommandRunner"]

REMEMBERED_S = 8 * 86400.0  # longer than any command lives (a rollout's step: 7 days)
OPERATIONS = ("configure", "update")
WRITE_TIMEOUT_S = 30.0


class CommandHost(Protocol):
    """What a command can ask of the agent."""

    def knows_device(self, device: str) -> bool: ...
    def write(self, device: str, point: str, value: Any, *, cause: str) -> asyncio.Future[str]: ...
    def acknowledge(self, key: str) -> None: ...
    async def snapshot(self, key: str, camera: str, command: str) -> str: ...
    async def logs(self, query: LogQuery, command: str) -> str: ...
    async def configure(self, bundle: ConfigBundle, command: str) -> str: ...
    async def update(self, package: AgentPackage, command: str) -> str | None: ...
    def rebirth(self) -> None: ...
    def reload(self) -> None: ...
    def command_state(self, command: str, state: CommandStep, reason: str) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None: ...


class CommandRunner:
    def __init__(self, host: CommandHost, interlocks: Interlocks, state: StateStore, *,
                 log: structlog.typing.FilteringBoundLogger) -> None:
        self.host = host
        self.interlocks = interlocks
        self.state = state
        self._log = log
        self._done: dict[str, float] = dict(state.get("commands_done", {}))  # id -> when it was taken up

    def take(self, command: Command, now: float) -> None:
        cid = command.id
        if cid in self._done:
            self._log.info("command already run", command=cid)
            return
        self._done = {k: t for k, t in self._done.items() if now - t < REMEMBERED_S}
        self._done[cid] = now
        self.state.put("commands_done", self._done)
        if self.host.spawn(self._run(cid, command), f"command:{cid}") is None:
            self.host.command_state(cid, "failed", "the agent is stopping")

    async def _run(self, cid: str, command: Command) -> None:
        if command.action not in OPERATIONS:  # an operation reports its own steps (prepare, apply, verify)
            self.host.command_state(cid, "executing", "")
        outcome: str | None = ""
        try:
            if command.action == "write":
                device, point = command.device, command.point
                if not self.host.knows_device(device):
                    raise ValueError(f"unknown device {device!r}")
                self.interlocks.permit(cid, device, point, command.value,
                                       command.override.reason if command.override else None)
                async with asyncio.timeout(WRITE_TIMEOUT_S):  # not wait_for: on 3.11 it can swallow a cancel
                    result = await asyncio.shield(self.host.write(device, point, command.value,
                                                                  cause=f"command:{cid}"))
                if result not in ("verified", "sent"):
                    raise ValueError(result)
            elif command.action == "acknowledge":
                self.host.acknowledge(command.key)
            elif command.action == "logs":  # log lines, compressed and sent up behind the alarms
                if command.query is None:
                    raise ValueError("a logs command says which lines (query)")
                outcome = await self.host.logs(command.query, cid)
            elif command.action == "snapshot":  # a fresh picture for an alarm (`key`), from `device` or all
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    outcome = await self.host.snapshot(command.key, command.device, cid)
            elif command.action == "configure":
                if command.bundle is None:
                    raise ValueError("a configure command carries the set (bundle)")
                outcome = await self.host.configure(command.bundle, cid)
            elif command.action == "update":
                if command.package is None:
                    raise ValueError("an update command names the package")
                outcome = await self.host.update(command.package, cid)
            elif command.action == "rebirth":
                self.host.rebirth()
            elif command.action == "reload_config":
                self.host.reload()
            else:
                raise ValueError(f"this agent does not take {command.action!r} commands")
        except OperationRolledBack as exc:
            self.host.command_state(cid, "rolled_back", str(exc))
            return
        except (ValueError, TimeoutError, OSError) as exc:  # OSError: a file of an operation (disk full)
            self.host.command_state(cid, "failed", str(exc) or "timed out")
            return
        if outcome is not None:  # None: the outcome is reported later (an update: by the agent that runs next)
            self.host.command_state(cid, "successful", outcome)
