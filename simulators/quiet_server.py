"""uvicorn without its own signal handling: the task group that runs it owns shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn

__all__ = ["QuietServer"]


class QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
