"""A pseudo-terminal standing in for a serial port, with a stable path (a symlink) for the master.

The simulator keeps the pty's master side; the gateway (or mbpoll) opens the path, which points at the
slave side. We hold a slave descriptor open ourselves so the line does not hang up between clients,
and put it in raw mode so nothing is echoed or translated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path

__all__ = ["PtyLink"]


class PtyLink:
    def __init__(self, link: Path) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        os.set_blocking(self.master_fd, False)
        self.device = os.ttyname(self._slave_fd)
        self.link = link
        link.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(self.device)
        self._readable = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.master_fd, self._readable.set)

    async def read(self) -> bytes:
        """Bytes the master wrote (waits for at least one)."""
        while True:
            try:
                data = os.read(self.master_fd, 4096)
            except BlockingIOError:
                data = b""
            except OSError:  # EIO while no client has the slave open on some kernels
                data = b""
            if data:
                return data
            self._readable.clear()
            await self._readable.wait()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master_fd, view)
                view = view[n:]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master_fd)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        os.close(self.master_fd)
        os.close(self._slave_fd)
