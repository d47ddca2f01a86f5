"""What the collector follows per gateway: its birth's boot and bdseq, and the sequence since. Pure.

A message whose `seq` is the next one (or an old one again) is in order. A gap in the same boot, or a
boot with no birth seen (the collector started after the gateway, or the birth was lost), calls for a
rebirth: once per boot, however many messages follow before the birth arrives, so a gateway whose births
go missing is asked once and not once per heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GatewaySession", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    gap: bool  # a message went missing in this boot
    ask_rebirth: bool


@dataclass
class GatewaySession:
    boot: str = ""
    bdseq: int = -1
    seq: int = 0
    asked_for: str = ""  # the boot a rebirth was last asked for

    def follow(self, boot: str, seq: int) -> Step:
        if boot == self.boot and seq <= self.seq + 1:
            self.seq = max(self.seq, seq)
            return Step(gap=False, ask_rebirth=False)
        gap = boot == self.boot
        if gap:
            self.seq = seq
        ask = self.asked_for != boot
        self.asked_for = boot
        return Step(gap=gap, ask_rebirth=ask)

    def believes_death(self, boot: str, bdseq: int) -> bool:
        """A death counts only with the current birth's boot and bdseq (Sparkplug's rule): a stale one
        arrives after the gateway has already come back."""
        return boot == self.boot and bdseq == self.bdseq
