"""The real ib_async `IB` client pointed at a `FakeTws` (no code of ours in between)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ib_async import IB

from tests.fakes.tws.server import FakeTws


async def connect(fake: FakeTws, client_id: int = 1, timeout: float = 2.0, **kwargs: Any) -> Any:
    ib = IB()
    await ib.connectAsync("127.0.0.1", fake.port, clientId=client_id, timeout=timeout, **kwargs)
    return ib


@asynccontextmanager
async def ib_client(
    fake: FakeTws, client_id: int = 1, timeout: float = 2.0, **kwargs: Any
) -> AsyncIterator[Any]:
    """`IB.connectAsync` against the fake; disconnects on the way out."""
    ib = await connect(fake, client_id, timeout, **kwargs)
    try:
        yield ib
    finally:
        ib.disconnect()


async def until(ib: Any, predicate: Callable[[], object], timeout: float = 2.0) -> None:
    """Wait until `predicate()` holds, re-checking each time ib_async has processed a
    network packet (`IB.updateEvent`); ib_async handles messages in socket callbacks."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await ib.updateEvent


async def round_trip(ib: Any) -> None:
    """reqCurrentTime and its answer: everything the fake sent before is processed by then
    (one TCP stream, in order). Use it to show that something did NOT arrive."""
    await asyncio.wait_for(ib.reqCurrentTimeAsync(), 2.0)
