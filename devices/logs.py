"""structlog for firefleet's processes (agent, simulators): readable on a terminal, one JSON object a line
under systemd, in files or pipes."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

__all__ = ["add_sink", "configure_logging", "ensure_sinks", "remove_sink"]

Sink = Callable[[Mapping[str, Any]], None]
_SINKS: list[Sink] = []


def add_sink(sink: Sink) -> None:
    """Also give every log event to `sink` (the agent's own log file, edge.log_file), until removed."""
    _SINKS.append(sink)


def remove_sink(sink: Sink) -> None:
    with contextlib.suppress(ValueError):
        _SINKS.remove(sink)


def _to_sinks(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for sink in list(_SINKS):
        with contextlib.suppress(Exception):  # a full disk must not stop the log line on stderr
            sink({**event, "level": event.get("level", method)})
    return event


def ensure_sinks() -> None:
    """Put the sinks in structlog's chain when whoever configured it did not (a test's process)."""
    processors = list(structlog.get_config()["processors"])
    if _to_sinks not in processors:
        structlog.configure(processors=[*processors[:-1], _to_sinks, *processors[-1:]])


def configure_logging(level: int = logging.INFO) -> None:
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if sys.stderr.isatty() else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), _to_sinks, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
