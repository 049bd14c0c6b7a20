"""A TCP relay in front of a test's own Redis that loses a connection at an exact point
of a conversation, which killing the server cannot time. The bytes are relayed as they
are (RESP), so redis-py and the server speak to each other unchanged.

- `cut`: while set, every reply is lost: the command ran, and the connection closes
  instead of passing its reply on (what a dropped connection does).
- `cut_reply_on(word)`: the same for the reply of the next command holding `word`.
- `cut_request_on(word, then)`: the next command holding `word` never reaches the
  server: `then` runs (to change the server's state at that point), the connection
  closes.
- `before(word, step)`: the next command holding `word` reaches the server just after
  `step` ran: a race lost at an exact point.
- `delay_reply_on(word, seconds)`: the next command holding `word` reaches the server at
  once, its reply reaches the client `seconds` late (a retransmission, a busy reader);
  the replies on other connections pass meanwhile.

`word` is a command (b"TYPE") or a key, matched as a RESP bulk string. `cuts` counts
the connections closed, `met` the armed words met; `armed` says one is still waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Literal

Action = Literal["request", "reply", "forward", "delay"]


class RedisRelay:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.cut = False
        self.cuts = 0
        self.met = 0
        self.port = 0
        self._rule: tuple[bytes, Action, Callable[[], None] | None] | None = None
        self._cut_next_reply = False
        self._reply_delay = 0.0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Future[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def armed(self) -> bool:
        return self._rule is not None

    def cut_reply_on(self, word: bytes) -> None:
        self._rule = (word, "reply", None)

    def cut_request_on(self, word: bytes, then: Callable[[], None] | None = None) -> None:
        self._rule = (word, "request", then)

    def before(self, word: bytes, step: Callable[[], None]) -> None:
        self._rule = (word, "forward", step)

    def delay_reply_on(self, word: bytes, seconds: float) -> None:
        self._reply_delay = seconds
        self._rule = (word, "delay", None)

    async def __aenter__(self) -> RedisRelay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
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
            held: asyncio.Queue[float] = asyncio.Queue()  # this connection's late replies
            relays += [
                asyncio.create_task(self._requests(reader, up_writer, held)),
                asyncio.create_task(self._replies(up_reader, writer, held)),
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

    async def _requests(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, held: asyncio.Queue[float]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                rule = self._rule
                if rule is not None and b"$%d\r\n%s\r\n" % (len(rule[0]), rule[0]) in data:
                    self._rule = None
                    self.met += 1
                    _, action, step = rule
                    if step is not None:
                        step()
                    if action == "request":
                        self.cuts += 1
                        return  # both sides close: the client sees its connection lost
                    if action == "reply":
                        self._cut_next_reply = True
                    if action == "delay":
                        held.put_nowait(self._reply_delay)
                dst.write(data)
                await dst.drain()

    async def _replies(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, held: asyncio.Queue[float]
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await src.read(65536):
                if not held.empty():
                    await asyncio.sleep(held.get_nowait())
                if self.cut or self._cut_next_reply:
                    self._cut_next_reply = False
                    self.cuts += 1
                    return  # executed, its reply never arrives
                dst.write(data)
                await dst.drain()
