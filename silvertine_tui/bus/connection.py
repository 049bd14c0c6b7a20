"""redis-py asyncio connections without the two client costs the bus's profile shows.

1. Packing. redis-py's *synchronous* connections pack commands with
   `hiredis.pack_command` (C) when hiredis is installed; its asyncio connections (8.1)
   always use a Python packer, the largest single client cost of a pipelined market
   data XADD (about half of it under cProfile). The C packer writes the same bytes: anything it does
   not pack exactly as redis-py would (a command name holding a space, which redis-py
   splits into words; an argument that is not str, bytes, int or float, which redis-py
   encodes or refuses with its own error; an encoding other than strict UTF-8) goes to
   redis-py's own packer.
2. Sending. On Python 3.11 redis-py sends every command under `asyncio.wait_for`, which
   there runs the send as a task of its own: one more task and one more turn of the
   event loop (an `epoll` call) per command, for a write that almost never waits.
   Here the same timeout is kept with `asyncio.timeout` (what `wait_for` itself uses
   from Python 3.12), and the errors are redis-py's own. This is a copy of redis-py
   8.1's `send_packed_command` with that one change; redis is pinned exactly
   (pyproject.toml), and tests/unit/test_bus_connection.py checks both.

`with_fast_client_path(cls)` makes such a subclass of any redis-py asyncio connection
class (TCP, TLS, Unix socket), once per class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import hiredis  # a dependency: redis[hiredis]
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

_MADE: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def with_fast_client_path(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """A subclass of `cls` that packs with hiredis and sends without a task per command."""
    found = _MADE.get(cls)
    if found is not None:
        return found
    stock_pack = cls.pack_command
    stock_send = cls.send_packed_command
    pack = hiredis.pack_command

    def pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        encoder = self.encoder
        if (
            (first.__class__ is str and " " not in first)
            or (first.__class__ is bytes and b" " not in first)
        ) and (encoder.encoding == "utf-8" and encoder.encoding_errors == "strict"):
            try:
                return [pack(args)]
            except TypeError:  # bool, bytearray, None...: redis-py encodes or refuses
                pass
        return stock_pack(self, *args)

    async def send_packed_command(
        self: AbstractConnection,
        command: bytes | str | Iterable[bytes],
        check_health: bool = True,
    ) -> None:
        timeout = self.socket_timeout
        if not timeout:  # redis-py sends without wait_for then too
            await stock_send(self, command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            async with asyncio.timeout(timeout):
                await self._send_packed_command(command)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as e:
            await self.disconnect(nowait=True)
            if len(e.args) == 1:
                err_no, errmsg = "UNKNOWN", e.args[0]
            else:
                err_no = e.args[0]
                errmsg = e.args[1]
            raise RedisConnectionError(f"Error {err_no} while writing to socket. {errmsg}.") from e
        except BaseException:
            # As redis-py: a send cut short leaves the connection in an unknown state.
            await self.disconnect(nowait=True)
            raise

    pack_command.__doc__ = "Pack a command with hiredis (redis-py's packer for the rest)."
    send_packed_command.__doc__ = "redis-py's send, under asyncio.timeout, not wait_for."
    made = type(
        f"Fast{cls.__name__}",
        (cls,),
        {"pack_command": pack_command, "send_packed_command": send_packed_command},
    )
    _MADE[cls] = made
    return made
