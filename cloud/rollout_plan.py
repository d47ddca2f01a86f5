"""A staged rollout's decisions: which gateways get the operation next, and when it stops. Pure.

Gateways are put in stages when the rollout is made: the canary share first (online gateways before
offline ones, so the canary answers), then batches of the rest. A stage is sent once every gateway of the
stages before it has settled: finished (successful, failed, rolled back, expired) or offline (an offline
gateway gets its command when it is back: commands are durable). The rollout stops as soon as more
gateways failed than it allows; what was not sent is never sent, and what was sent but not taken up is
cancelled. It is complete when every gateway has finished.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FAILED", "FINISHED", "Decision", "Target", "decide", "stages"]

FINISHED = frozenset({"successful", "failed", "refused", "rolled_back", "expired", "cancelled"})
FAILED = frozenset({"failed", "refused", "rolled_back"})  # expired: the gateway was away, not the change


@dataclass(frozen=True, slots=True)
class Target:
    gateway: str
    stage: int
    state: str  # "" not sent yet; else its command's state (init, prepare, ..., successful, rolled_back)
    online: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    send: tuple[str, ...] = ()  # gateways whose command goes out now
    stop: str = ""  # why the rollout stops ("" it goes on)
    complete: bool = False


def stages(gateways: Sequence[tuple[str, bool]], canary_share: float, batch: int, first: int = 0) -> dict[str, int]:
    """Stage per gateway, from (gateway, online) pairs: the `first` gateways given are canaries whatever
    their state (an admin chose them), the rest of the canary share is filled with online ones first."""
    chosen, rest = list(gateways[:first]), gateways[first:]
    ordered = [g for g, _ in chosen] + [g for g, online in rest if online] + [g for g, online in rest if not online]
    canary = max(first, 1, math.ceil(canary_share * len(ordered))) if ordered else 0
    out = {g: 0 for g in ordered[:canary]}
    for n, gateway in enumerate(ordered[canary:]):
        out[gateway] = 1 + n // max(1, batch)
    return out


def decide(targets: Sequence[Target], max_failures: int) -> Decision:
    failed = [t for t in targets if t.state in FAILED]
    if len(failed) > max_failures:
        named = "; ".join(f"{t.gateway}: {t.reason or t.state}" for t in failed[:3])
        return Decision(stop=f"{len(failed)} gateway(s) failed, more than the {max_failures} allowed ({named})")
    if all(t.state in FINISHED for t in targets):
        return Decision(complete=True)
    unsent = [t for t in targets if not t.state]
    if not unsent:
        return Decision()
    next_stage = min(t.stage for t in unsent)
    earlier = [t for t in targets if t.stage < next_stage]
    if all(t.state in FINISHED or (t.state and not t.online) for t in earlier):
        return Decision(send=tuple(t.gateway for t in unsent if t.stage == next_stage))
    return Decision()
