"""A loopback TCP relay between one gateway and the broker that the demo can cut and restore, so a
gateway loses its link (and replays its backlog) while its local rules keep running."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["LinkCutter"]


class LinkCutter:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.cut_off = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop relaying; each relay ends here, not cancelled at the loop's end (asyncio's stream server
        then prints a traceback per connection)."""
        self._closing = True
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self) -> None:
        self.cut_off = True
        for writer in list(self._open):
            writer.transport.abort()  # no FIN handshake: like a pulled cable, the broker sees silence
        self._open.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._pass(reader, writer)
        except asyncio.CancelledError:
            if not self._closing:
                raise
        finally:
            self._relays.discard(task)

    async def _pass(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(pump(reader, up_writer))
                tg.create_task(pump(up_reader, writer))
        finally:
            self._open.discard(writer)
            self._open.discard(up_writer)
