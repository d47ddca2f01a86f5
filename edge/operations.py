"""Operations the collector asks of a gateway, step by step, one at a time: `configure` (a configuration
set: edge.config_sets) and `update` (an agent version: edge.updates). Each step is a command state the
collector shows per gateway: prepare -> apply -> verify -> successful, or failed (refused while
preparing) or rolled_back with what was found.

The agent does the applying (EdgeAgent.apply_config: only changed buses restart, the rule engine is
swapped in one step) and says what it sees (unsettled devices, health); the flows are here.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import structlog

from devices.contract import AgentPackage, ConfigBundle
from edge.config_sets import ConfigSets, OperationRolledBack, PrepareRefused
from edge.updates import HEALTHY_FOR_S, Updates

if TYPE_CHECKING:
    from edge.agent import EdgeAgent

__all__ = ["Operations"]

VERIFY_LOOK_S = 0.25


class Operations:
    def __init__(self, agent: EdgeAgent, sets: ConfigSets | None, updates: Updates | None, version: str,
                 log: structlog.typing.FilteringBoundLogger) -> None:
        self.agent = agent
        self.sets = sets
        self.updates = updates
        self.version = version  # of the running agent
        self._log = log
        self._one = asyncio.Lock()

    # -- configure ---------------------------------------------------------------------------------
    async def configure(self, bundle: ConfigBundle, command: str) -> str:
        """Prepare (the set written beside the running one and checked as an installer's --check would),
        apply (switched; only changed buses restart), verify (every device of a restarted bus identified
        and answering, no new fault, within the bundle's deadline), or back to the last good set:
        OperationRolledBack says why."""
        if self.sets is None:
            raise PrepareRefused("this agent does not manage its configuration (started without a site file)")
        async with self._one:
            return await self._configure(self.sets, bundle, command)

    async def _configure(self, sets: ConfigSets, bundle: ConfigBundle, command: str) -> str:
        agent = self.agent
        agent.command_state(command, "prepare", "")
        name, site, profiles = await asyncio.to_thread(sets.prepare, command, bundle)
        if site.id != agent.site.id or site.gateway_id != agent.site.gateway_id:
            sets.refused(command, name, "site or gateway id differs")
            raise PrepareRefused(f"the new site file is for site {site.id} / {site.gateway_id}, this gateway is "
                                 f"{agent.site.id} / {agent.site.gateway_id}")
        if name == sets.current():
            return f"already running set {name[:12]}"
        old = (agent.site, agent.profiles)
        faults_before = {i.key for i in agent.engine.active() if i.cls == "fault"}
        previous = sets.apply(command, name)
        restarted: list[str] = []
        try:
            restarted = await agent.apply_config(site, profiles)
            agent.command_state(command, "apply", f"buses restarted: {', '.join(restarted) or 'none'}")
            sets.step("verify")
            agent.command_state(command, "verify", "")
            problem = await self._verify(restarted, faults_before, bundle.verify_s)
        except Exception as exc:  # a bug while applying must not leave the site on half a set
            self._log.exception("configuration apply failed")
            problem = f"apply failed: {exc}"
        if problem:
            reason = f"{problem}; back on {'set ' + previous[:12] if previous else 'the installed files'}"
            sets.step("rolled_back", reason)
            await agent.apply_config(*old)
            raise OperationRolledBack(reason)
        sets.step("successful")
        return f"set {name[:12]} running; buses restarted: {', '.join(restarted) or 'none'}"

    async def _verify(self, buses: list[str], faults_before: set[str], within: float) -> str:
        """"" when every device of the restarted buses is identified and answering and no fault is new; else
        what is wrong, as soon as a device is known not to fit (or at the deadline, who does not answer)."""
        deadline = time.monotonic() + within
        while True:
            waiting, problems = self.agent.unsettled(buses)
            new_faults = [i.key for i in self.agent.engine.active() if i.cls == "fault" and i.key not in faults_before]
            if problems or new_faults:
                return "; ".join(problems + [f"new fault {k}" for k in new_faults])
            if not waiting:
                return ""
            if time.monotonic() >= deadline:
                return f"not answering within {within:g} s: {', '.join(sorted(waiting))}"
            await asyncio.sleep(VERIFY_LOOK_S)

    # -- update ------------------------------------------------------------------------------------
    async def update(self, package: AgentPackage, command: str) -> str | None:
        """Prepare the new version beside this one, switch to it and stop; the new agent reports the outcome
        once it is healthy, or the switch is undone (None: no outcome yet)."""
        updates, agent = self.updates, self.agent
        if updates is None:
            raise PrepareRefused("this agent was not installed for updates (firefleet edge --updates ROOT)")
        async with self._one:
            agent.command_state(command, "prepare", f"fetching agent {package.version}")
            updates.begin(command, package, self.version)
            try:
                target = await updates.prepare(package, lambda said: self._log.info("update", step=said))
            except (ValueError, OSError) as exc:  # refused: the runner reports it failed with the reason
                updates.end(f"refused: {exc}")
                raise
            agent.command_state(command, "apply", f"switching from {self.version} to {package.version}")
            updates.switch(command, package, target, self.version)
            agent.command_state(command, "verify", f"agent {package.version} starting, healthy within "
                                                   f"{package.healthy_s:g} s or rolled back")
            self._log.warning("agent update: restarting into the new version", version=package.version)
            agent.stopping.set()  # systemd starts ROOT/current, the new version
            return None

    def update_at_start(self) -> dict[str, Any] | None:
        """Report an update that ended while no agent could (rolled back by the guard, or stopped before the
        switch); the state to confirm if this agent is the update under verify."""
        updates = self.updates
        state = updates.state() if updates is not None else None
        if state is None or updates is None:
            return None
        if not isinstance(state.get("command"), str) or not isinstance(state.get("state"), str) or (
                state["state"] == "verify" and not all(k in state for k in ("previous", "deadline", "version"))):
            self._log.error("update.json is not an update this agent wrote: left alone", state=str(state)[:300])
            return None
        if state.get("state") == "prepare":  # stopped while fetching or installing: nothing was switched
            updates.settle(state, "failed", "the agent stopped while preparing the update: send it again")
        if state.get("state") == "verify" and state.get("version") != self.version:
            updates.settle(state, "rolled_back", f"agent {state.get('version')} did not take over: still on "
                                                 f"{self.version}")
        if state.get("state") in ("rolled_back", "failed") and not state.get("reported"):
            self.agent.command_state(str(state["command"]), state["state"], str(state.get("reason", "")))
            updates.reported(state)
        return state if state.get("state") == "verify" else None

    async def confirm_update(self, state: dict[str, Any]) -> None:
        """This agent is an update under verify: successful once healthy for HEALTHY_FOR_S, else back to the
        version before at the deadline (and stop, for systemd to start it)."""
        assert self.updates is not None
        healthy_since: float | None = None
        while time.time() < float(state["deadline"]):
            now = time.monotonic()
            healthy_since = (healthy_since or now) if self.agent.healthy() else None
            if healthy_since is not None and now - healthy_since >= HEALTHY_FOR_S:
                self.updates.settle(state, "successful", "")
                self.agent.command_state(state["command"], "successful", f"agent {self.version} running and "
                                                                         f"healthy (was {state.get('from_version')})")
                return
            await asyncio.sleep(0.5)
        reason = f"agent {self.version} did not report healthy in time: back on {state.get('from_version')}"
        self.updates.settle(state, "rolled_back", reason)
        self.agent.command_state(state["command"], "rolled_back", reason)
        self.updates.reported(state)
        self.agent.stopping.set()
