"""On the leading collector, once a second: every running rollout's next step (cloud.rollout_plan), as
durable commands to the gateways of the stage that is due, or its stop when too many failed."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from cloud.leadership import Leadership
from cloud.rollout_plan import decide
from cloud.store import Store
from devices.contract import Command, as_command

__all__ = ["ROLLOUT_TTL_S", "advance_rollouts", "run_rollouts"]

log = structlog.get_logger("firefleet.cloud.rollouts")
ROLLOUT_TTL_S = 7 * 86400.0  # a gateway away for up to a week gets its step when it is back

Writer = Callable[[Callable[[Store], Any]], Awaitable[Any]]
Sender = Callable[[str, str, Command, float], Awaitable[None]]


def advance_rollouts(store: Store, now: float) -> list[tuple[str, str, dict[str, Any]]]:
    """Decide and record each running rollout's step; the commands to send now (site, gateway, command)."""
    outgoing = []
    for rid, payload, allowed, targets in store.running_rollouts():
        decision = decide([t for t, _ in targets], allowed)
        if decision.stop:
            store.end_rollout(rid, "stopped", decision.stop, "collector")
            log.warning("rollout stopped", rollout=rid, reason=decision.stop)
            continue
        if decision.complete:
            store.end_rollout(rid, "completed", "", "collector")
            log.info("rollout completed", rollout=rid)
            continue
        site_of = {t.gateway: site for t, site in targets}
        for gateway in decision.send:
            cmd = {"id": f"cmd-{uuid.uuid4().hex[:12]}", **payload}
            store.add_command(cmd, site_of[gateway], gateway, f"rollout/{rid}", now + ROLLOUT_TTL_S)
            store.rollout_sent(rid, gateway, cmd["id"])
            store.audit(f"rollout/{rid}", "command", f"{site_of[gateway]}/{gateway}",
                        {"id": cmd["id"], "action": cmd["action"]})
            outgoing.append((site_of[gateway], gateway, cmd))
        if decision.send:
            log.info("rollout stage sent", rollout=rid, gateways=len(decision.send))
    return outgoing


async def run_rollouts(write: Writer, send: Sender, lead: Leadership, look_s: float = 1.0) -> None:
    failing = False
    while True:
        await asyncio.sleep(look_s)
        if not lead.held:
            continue
        try:
            outgoing = await write(lambda s: advance_rollouts(s, time.time()))
        except Exception as exc:  # a store hiccup: next look (never the collector's task group)
            if not failing:
                log.error("rollouts not advanced", error=f"{type(exc).__name__}: {exc}")
            failing = True
            continue
        failing = False
        for site, gateway, cmd in outgoing:
            with contextlib.suppress(ConnectionError):  # durable: sent again on the gateway's next birth
                await send(site, gateway, as_command(cmd), ROLLOUT_TTL_S)
