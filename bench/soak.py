"""Crash soak: alarm raise/clear cycles while the edge agent is SIGKILLed, the collector SIGKILLed and
mosquitto restarted at random moments; prints what was injected, what the API shows, lost, duplicated,
out of order, and the delay from injection to the API. Targets: 0 lost, 0 duplicated, 0 out of order.

    python bench/soak.py [--cycles 40] [--agent-kills 10] [--collector-kills 5] [--broker-restarts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.soak import run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--agent-kills", type=int, default=10)
    parser.add_argument("--collector-kills", type=int, default=5)
    parser.add_argument("--broker-restarts", type=int, default=3)
    parser.add_argument("--hold", type=float, default=4.0, help="seconds each condition is held (default 4)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ff-soak-"))
    print(f"soak: {args.cycles} cycles of {2 * args.hold:.0f} s, logs in {folder}", flush=True)
    report = asyncio.run(run_soak(folder, cycles=args.cycles, agent_kills=args.agent_kills,
                                  collector_kills=args.collector_kills, broker_restarts=args.broker_restarts,
                                  hold_s=args.hold, seed=args.seed, progress=True))
    print("\n".join(report.lines()))
    return 0 if report.lost == report.duplicated == report.out_of_order == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
