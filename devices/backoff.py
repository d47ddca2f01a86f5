"""Reconnect policy as a pure function: capped exponential backoff with full jitter."""

from __future__ import annotations

import random

__all__ = ["next_delay"]

_RNG = random.Random()


def next_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt number `attempt` (1, 2, ...): uniform in [cap'/2, cap'] where
    cap' = min(cap, base * 2 ** (attempt - 1)), so retries spread out but never wait more than `cap`."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or _RNG).uniform(ceiling / 2, ceiling)
