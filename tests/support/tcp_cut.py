"""A TCP relay in front of a test's own Redis that cuts a connection the moment the
client sends a given command: a connection lost at an exact point of a conversation,
which killing the server cannot time. The bytes are relayed as they are (RESP), so
redis-py and the server speak to each other unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tests.support.redis_server import free_port


class CutOn:
    """Relay 127.0.0.1:`port` to `target`; the first `times` client writes holding
    `word` (as a RESP bulk string: a command such as b"TYPE", or a key) close that
    connection instead of reaching the server, after calling `on_cut` (to change the
    server's state at that exact point). With `cut=False` they reach the server, just
    after `on_cut` ran: a race lost at an exact point."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        word: bytes,
        times: int = 1,
        on_cut: Callable[[], None] | None = None,
        cut: bool = True,
    ):
        self.target = (target_host, target_port)
        self.needle = b"$%d\r\n%s\r\n" % (len(word), word.upper())
        self.on_cut = on_cut
        self.cut = cut
        self.left = times
        self.cuts = 0
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Future[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> CutOn:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # every relay's reads end: its handler closes the rest
        await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), 5)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = asyncio.get_running_loop().create_future()
        self._handlers.add(done)
        writers = [writer]
        self._writers.add(writer)
        relays: list[asyncio.Task[None]] = []
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            writers.append(up_writer)
            self._writers.add(up_writer)
            relays += [
                asyncio.create_task(self._relay(up_reader, writer, cut=False)),
                asyncio.create_task(self._relay(reader, up_writer, cut=True)),
            ]
            await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass
        finally:
            for w in writers:
                w.close()  # the other relay's read ends with it
                self._writers.discard(w)
            await asyncio.gather(*relays, return_exceptions=True)
            for w in writers:
                with contextlib.suppress(OSError):
                    await w.wait_closed()
            done.set_result(None)

    async def _relay(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, cut: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if cut and self.left and self.needle in data.upper():
                    self.left -= 1
                    self.cuts += 1
                    if self.on_cut is not None:
                        self.on_cut()
                    if self.cut:
                        return  # both sides close: the client sees its connection lost
                dst.write(data)
                await dst.drain()
