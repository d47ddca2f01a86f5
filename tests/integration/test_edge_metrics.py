"""The agent's /metrics on a loopback port, scraped while it polls the example shed's simulators, read back
with the Prometheus client library's own parser."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from edge.agent import EdgeAgent
from simulators.harness import SimulationHandle
from tests.conftest import SITES
from tests.support.agents import eventually


async def test_the_agent_serves_its_buses_outbox_and_rules_as_prometheus_metrics(shed: SimulationHandle,
                                                                                  tmp_path: object) -> None:
    profiles = load_profile_dir()
    site = load_site(SITES / "charging-shed.yaml", profiles)
    agent = EdgeAgent(site, profiles, tmp_path, bus_map=shed.sim.endpoints()[site.id],  # type: ignore[arg-type]
                      metrics_at="127.0.0.1:0")
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        await eventually(lambda: agent.metrics_port is not None, what="the metrics server")
        await asyncio.sleep(3)  # some polls
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{agent.metrics_port}/metrics")).text
        got = {(s.name, s.labels.get("bus") or s.labels.get("lane") or s.labels.get("part") or ""): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
        assert got[("firefleet_edge_bus_requests_total", "rs485-1")] > 0
        assert got[("firefleet_edge_bus_requests_total", "nvr")] > 0
        assert ("firefleet_edge_bus_timeouts_total", "box2-serial") in got
        assert got[("firefleet_edge_rule_evaluations_total", "")] > 0
        assert {lane for name, lane in got if name == "firefleet_edge_outbox_records"} == {
            "alarm", "event", "attachment", "telemetry"}
        assert got[("firefleet_edge_outbox_records", "telemetry")] > 0  # readings, with no broker to take them
        assert got[("firefleet_edge_uplink", "broker")] == 0
    finally:
        agent.stopping.set()
        await asyncio.wait_for(task, 15)
    async with httpx.AsyncClient() as client:  # stopped with the agent
        try:
            await client.get(f"http://127.0.0.1:{agent.metrics_port}/metrics", timeout=2)
            served_after = True
        except httpx.HTTPError:
            served_after = False
    assert not served_after
