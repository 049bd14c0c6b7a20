"""The bus's redis-py connections: commands packed by hiredis are the bytes redis-py's
own packer sends (or its error); a send makes no task of its own and still times out
as redis-py's does."""

from __future__ import annotations

import asyncio
import os
import signal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.connection import with_fast_client_path
from silvertine_tui.bus.redis_streams import RedisBus
from tests.support.redis_server import RedisServer


class Side(StrEnum):
    BUY = "BUY"


class Level(IntEnum):
    ONE = 1


argument = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.binary(max_size=10).map(bytearray),
    st.binary(max_size=10).map(lambda b: memoryview(b)),
    st.just(Side.BUY),
    st.just(Level.ONE),
    st.none(),
)
command = st.sampled_from(["XADD", b"XADD", "CONFIG GET", b"CLIENT LIST", "é"])


def packed(connection: Any, args: tuple[Any, ...]) -> bytes | type[BaseException]:
    try:
        return b"".join(bytes(part) for part in connection.pack_command(*args))
    except Exception as exc:
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(name=command, args=st.lists(argument, max_size=8))
def test_same_bytes_or_the_same_error_as_redis_py(name: Any, args: list[Any]) -> None:
    stock = Connection()
    fast = with_fast_client_path(Connection)()
    full = (name, *args)
    assert packed(fast, full) == packed(stock, full)


def test_a_market_data_xadd_goes_through_hiredis() -> None:
    fast = with_fast_client_path(Connection)()
    args = ("XADD", "s:md:paper", "MAXLEN", "~", 100_000, "*", b"t", b"quote", b"p", b"{}")
    assert fast.pack_command(*args) == [b"".join(Connection().pack_command(*args))]
    with pytest.raises(DataError):
        fast.pack_command("SET", "k", True)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("redis://127.0.0.1:6390/0", Connection),
        ("rediss://127.0.0.1:6390/0", SSLConnection),
        ("unix:///tmp/silvertine-no-such.sock", UnixDomainSocketConnection),
    ],
)
def test_every_bus_client_keeps_its_connection_kind_and_packs_with_hiredis(
    url: str, base: type[Connection]
) -> None:
    bus = RedisBus(url, BusOptions(prefix="t-packing"))
    for client in (bus._writer, bus._range_client(), bus._reader_client()):
        cls = client.connection_pool.connection_class
        assert issubclass(cls, base)
        assert cls is with_fast_client_path(base)
        assert cls.__name__ == f"Fast{base.__name__}"


def fast_client(url: str, socket_timeout: float) -> Redis:
    client = Redis.from_url(url, socket_timeout=socket_timeout)
    pool = client.connection_pool
    pool.connection_class = with_fast_client_path(pool.connection_class)
    return client


@pytest.mark.redis
async def test_a_command_makes_no_task_of_its_own(redis_server: RedisServer) -> None:
    """redis-py 8.1 on Python 3.11 sends each command as a task (`asyncio.wait_for`):
    one more task and one more turn of the loop per command. Ours sends inline."""
    loop = asyncio.get_running_loop()
    made: list[object] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    client = fast_client(redis_server.url, socket_timeout=5.0)
    try:
        await client.ping()  # connected
        loop.set_task_factory(factory)
        try:
            for n in range(20):
                await client.xadd("t-fast:stream", {b"n": str(n).encode()})
        finally:
            loop.set_task_factory(None)
        assert made == []
        assert await client.xlen("t-fast:stream") == 20
    finally:
        await client.delete("t-fast:stream")
        await client.aclose()


@pytest.mark.redis
async def test_a_send_to_a_frozen_server_times_out_as_redis_py_says() -> None:
    """A server that stops reading: the send waits for room in the socket, then gives
    up after socket_timeout with redis-py's TimeoutError and drops the connection."""
    with RedisServer() as server:
        client = fast_client(server.url, socket_timeout=0.3)
        try:
            await client.ping()
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(RedisTimeoutError, match="writing to socket"):
                    await client.set("t-fast:big", b"x" * 64_000_000)
                assert loop.time() - started < 3.0
            finally:
                os.kill(server.pid, signal.SIGCONT)
            assert await client.ping()  # a fresh connection
        finally:
            await client.aclose()
