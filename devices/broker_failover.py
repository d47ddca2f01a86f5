"""A gateway's list of brokers, by Sparkplug's primary/backup rule: stay on the broker in use while it
works; when a connection to it fails or a session on it ends with the broker gone, the next connection
goes to the next broker in the list (round robin). What was not acknowledged is sent again by the uplink
on whichever broker it reaches (edge.uplink); the collector consumes from every broker and its store
skips ids it already has, so a move loses nothing and doubles nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import structlog

from devices.errors import BrokerUnavailable
from devices.mqtt_transport import Connector, Session, Will

__all__ = ["FailoverConnector"]

log = structlog.get_logger("firefleet.mqtt")


class FailoverConnector:
    def __init__(self, connectors: Sequence[Connector]) -> None:
        if not connectors:
            raise ValueError("at least one broker")
        self.connectors = list(connectors)
        self.index = 0
        self.moves = 0

    @property
    def describe(self) -> str:
        return self.connectors[self.index].describe

    @asynccontextmanager
    async def connect(self, client_id: str, will: Will | None = None) -> AsyncIterator[Session]:
        current = self.connectors[self.index]
        try:
            async with current.connect(client_id, will) as session:
                yield session
        except BaseException as exc:  # bare from connect, grouped from a session's task group
            if _broker_gone(exc):
                self._next(current)
            raise

    def _next(self, failed: Connector) -> None:
        if len(self.connectors) == 1:
            return
        self.index = (self.index + 1) % len(self.connectors)
        self.moves += 1
        log.warning("broker unavailable: trying the next", failed=failed.describe, next=self.describe)


def _broker_gone(exc: BaseException) -> bool:
    if isinstance(exc, BrokerUnavailable):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.subgroup(BrokerUnavailable) is not None
