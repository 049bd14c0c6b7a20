"""Commands packed by hiredis are the bytes redis-py's own packer sends, or its error."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.packing import with_hiredis_packing
from silvertine_tui.bus.redis_streams import RedisBus


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
    fast = with_hiredis_packing(Connection)()
    full = (name, *args)
    assert packed(fast, full) == packed(stock, full)


def test_a_market_data_xadd_goes_through_hiredis() -> None:
    fast = with_hiredis_packing(Connection)()
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
        assert cls is with_hiredis_packing(base)
        assert cls.__name__ == f"HiredisPacked{base.__name__}"
