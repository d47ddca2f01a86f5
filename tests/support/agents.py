"""Run an edge agent inside a test's event loop, against simulators, optionally with a broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from devices.broker_failover import FailoverConnector
from devices.broker_url import BrokerConfig
from devices.mqtt_transport import MqttConnector
from edge.agent import EdgeAgent
from edge.config_sets import ConfigSets, load_set
from simulators.harness import SimulationHandle
from tests.support.keys import trusted_keys


@contextlib.asynccontextmanager
async def running_agent(site_file: Path, sim: SimulationHandle, data_dir: Path, *, broker_url: str | None = None,
                        heartbeat_s: float = 2.0, link_fault_after: float = 20.0,
                        backup_brokers: list[str] | None = None, profiles_dir: Path | None = None
                        ) -> AsyncIterator[EdgeAgent]:
    """`backup_brokers`: tried in turn after `broker_url` (Sparkplug's primary/backup rule). The agent runs
    the configuration set installed in `data_dir` if there is one, as `firefleet edge` does."""
    sets = ConfigSets(data_dir, site_file, profiles_dir)
    recovered, _ = sets.start()
    site, profiles = load_set(*sets.paths())
    broker: BrokerConfig | FailoverConnector | None = BrokerConfig.from_url(broker_url) if broker_url else None
    if broker_url and backup_brokers:
        broker = FailoverConnector([MqttConnector(BrokerConfig.from_url(url)) for url in [broker_url, *backup_brokers]])
    agent = EdgeAgent(site, profiles, data_dir, broker=broker,
                      bus_map=sim.sim.endpoints()[site.id], heartbeat_s=heartbeat_s, reconnect_cap=1.0,
                      link_fault_after=link_fault_after, collector_keys=trusted_keys() if broker_url else None,
                      config_sets=sets, recovered=recovered)
    task = asyncio.get_running_loop().create_task(agent.run(), name="agent-under-test")
    try:
        yield agent
    finally:
        agent.stopping.set()
        done, _ = await asyncio.wait({task}, timeout=15)  # not wait_for: it would wait on a stuck cancel
        if not done:
            stuck = [f"{t.get_name()}: {t.get_stack(limit=3)}" for t in asyncio.all_tasks() if not t.done()]
            raise AssertionError(f"the agent did not stop within 15 s of being asked; running: {stuck}")
        task.result()


async def eventually(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    """Wait (polling every 50 ms) until predicate() is true; fail with `what` after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
