"""What the collector follows per gateway: its birth's boot and bdseq, and the sequence since. Pure.

A message whose `seq` is the next one (or an old one again) is in order. Alarms come in on a connection of
their own (fire first), so one gateway's messages may arrive a little out of order: a message ahead of a
hole is kept in mind, and the hole is a gap only when nothing has filled it for HOLE_S seconds (or
MAX_AHEAD messages have come past it). A gap in the same boot, or a boot with no birth seen (the
collector started after the gateway, or the birth was lost), calls for a rebirth: once per boot, however
many messages follow before the birth arrives (and again each REBIRTH_AGAIN_S while it is still missing:
an overloaded collector drops messages, births too), so a gateway whose births go missing is asked once a
minute and not once per heartbeat. A boot whose birth another collector stored is adopted from the store instead
(`adopt`): with several collectors, each would otherwise ask every gateway for a birth of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HOLE_S", "MAX_AHEAD", "REBIRTH_AGAIN_S", "GatewaySession", "Step"]

HOLE_S = 10.0  # the alarm lane and the telemetry lane are never this far apart, unless a message is lost
MAX_AHEAD = 256
REBIRTH_AGAIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Step:
    gap: bool  # a message went missing in this boot
    ask_rebirth: bool


_IN_ORDER = Step(gap=False, ask_rebirth=False)


@dataclass
class GatewaySession:
    boot: str = ""
    bdseq: int = -1
    seq: int = 0  # the highest seq with none missing before it
    asked_for: str = ""  # the boot a rebirth was last asked for
    asked_at: float = 0.0  # when (monotonic)
    ahead: set[int] = field(default_factory=set)  # seqs seen beyond a hole
    hole_since: float | None = None

    def follow(self, boot: str, seq: int, now: float = 0.0, hole_s: float = HOLE_S) -> Step:
        """`now`: a monotonic time, to age a hole; `hole_s`: how long a hole may stay open."""
        gap = False
        if boot == self.boot:
            if seq <= self.seq:
                return _IN_ORDER  # a resend, or one the other lane brought first
            if seq == self.seq + 1:
                self.seq = seq
                while self.seq + 1 in self.ahead:
                    self.ahead.discard(self.seq + 1)
                    self.seq += 1
                if not self.ahead:
                    self.hole_since = None
                return _IN_ORDER
            self.ahead.add(seq)
            if self.hole_since is None:
                self.hole_since = now
            if now - self.hole_since < hole_s and len(self.ahead) < MAX_AHEAD:
                return _IN_ORDER  # the other lane may still bring what is missing
            self.seq = max(self.ahead)
            self.ahead.clear()
            self.hole_since = None
            gap = True
        # once per boot; again every REBIRTH_AGAIN_S while its birth is still missing (an overloaded
        # collector drops messages unread, and a birth, unlike a record, is not sent again by itself)
        ask = self.asked_for != boot or (boot != self.boot and now - self.asked_at >= REBIRTH_AGAIN_S)
        if ask:
            self.asked_for, self.asked_at = boot, now
        if not gap and not ask:
            return _IN_ORDER
        return Step(gap=gap, ask_rebirth=ask)

    def adopt(self, boot: str, bdseq: int, seq: int) -> None:
        """Follow a birth another collector stored (several collectors split one gateway's messages):
        from the message in hand, whose `seq` is taken as in order."""
        self.boot, self.bdseq, self.seq = boot, bdseq, seq - 1
        self.ahead.clear()
        self.hole_since = None

    def believes_death(self, boot: str, bdseq: int) -> bool:
        """A death counts only with the current birth's boot and bdseq (Sparkplug's rule): a stale one
        arrives after the gateway has already come back."""
        return boot == self.boot and bdseq == self.bdseq
