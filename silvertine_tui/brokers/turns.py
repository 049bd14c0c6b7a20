"""Work on one order at a time, in the order asked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Turns:
    """Per key (an order id), each caller's work runs after the work of the callers
    before it has ended, first come first served. Nothing is kept for a key once its
    last caller is done."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def busy(self, key: str) -> bool:
        return key in self._last

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        before = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine
        try:
            if before is not None:
                await asyncio.wait({before})
            yield
        finally:
            if before is None or before.done():
                mine.set_result(None)
            else:  # cancelled while waiting: the ones after still wait for `before`
                before.add_done_callback(lambda _: mine.set_result(None))
            if self._last.get(key) is mine:
                del self._last[key]
