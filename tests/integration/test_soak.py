"""The short form of bench/soak.py: alarm cycles through agent, collector and broker crashes at random
moments; nothing that reached the agent is lost, doubled or reordered at the collector's API."""

from __future__ import annotations

from pathlib import Path

from tests.support.soak import run_soak


async def test_alarm_cycles_survive_agent_collector_and_broker_crashes(tmp_path: Path) -> None:
    report = await run_soak(tmp_path, cycles=8, agent_kills=3, collector_kills=1, broker_restarts=1, seed=3)
    print("\n".join(report.lines()))
    assert (report.agent_kills, report.collector_kills, report.broker_restarts) == (3, 1, 1)
    assert report.lost == 0 and report.duplicated == 0 and report.out_of_order == 0, report.lines()
