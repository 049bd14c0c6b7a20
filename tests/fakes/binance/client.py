"""The real python-binance client pointed at a `FakeBinance` (no code of ours in between).

python-binance only switches host names through `tld`/`testnet`; a subclass whose class
attributes `API_URL` and `WS_API_URL` are set before construction is what reaches a local
server (the WebSocket API client is built in `__init__`). Market streams: the socket
manager's `STREAM_URL`, set on the instance.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from binance import AsyncClient, BinanceSocketManager

from tests.fakes.binance.server import FakeBinance


def client_class(fake: FakeBinance) -> type[Any]:
    class LocalClient(AsyncClient):  # type: ignore[misc]
        API_URL = fake.api_url
        WS_API_URL = fake.ws_api_url

    return LocalClient


@asynccontextmanager
async def binance_client(
    fake: FakeBinance,
    *,
    api_key: str | None = None,
    api_secret: str | None = None,
    request_timeout: float | None = None,
) -> AsyncIterator[Any]:
    """`AsyncClient.create()` against the fake (it pings and reads the server time)."""
    client = await client_class(fake).create(
        api_key or fake.api_key, fake.api_secret if api_secret is None else api_secret
    )
    if request_timeout is not None:
        client.REQUEST_TIMEOUT = request_timeout
    try:
        yield client
    finally:
        await close_client(client)


async def close_client(client: Any, timeout: float = 5.0) -> None:
    """`close_connection()`, bounded: python-binance 1.0.37 hangs forever when it is closed
    while its WebSocket API connection is reconnecting (`connect()` overwrites the EXITING
    state its read loop waits for)."""
    try:
        await asyncio.wait_for(client.close_connection(), timeout)
    except TimeoutError:
        raise AssertionError(
            f"python-binance did not close within {timeout} s (closed while reconnecting?)"
        ) from None


def socket_manager(fake: FakeBinance, client: Any) -> Any:
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = fake.stream_url
    return manager


async def next_message(socket: Any, timeout: float = 2.0) -> dict[str, Any]:
    """The next message a python-binance socket yields (its own `recv`), or fail fast."""
    message: dict[str, Any] = await asyncio.wait_for(socket.recv(), timeout)
    return message


async def next_report(socket: Any, timeout: float = 2.0) -> dict[str, Any]:
    """The next `executionReport`, skipping account events."""
    async with asyncio.timeout(timeout):
        while True:
            message = await next_message(socket, timeout)
            if message.get("e") == "executionReport":
                return message
