"""python-binance's websocket logs, at ERROR, what the market socket's design makes
routine: this adapter builds each market socket with `MAX_RECONNECTS = 0` and
reconnects by itself (market.py), so every socket it closes (a rebuild, a quit) made the
library log `ConnectionClosedOK (sent 1000 (OK); ...)`, `BinanceWebsocketClosed
(Connection closed. Reconnecting...)` (it does not reconnect), `Max reconnections 0
reached:` and `Unknown exception: BinanceWebsocketUnableToConnect ()`: four ERROR lines
in the log file on every clean quit, which a trader's `grep ERROR` took for failures.
The adapter says a drop in its own words (the market link, `binance.market_*`).

`RoutineCloses` logs those at INFO, the words unchanged. A library that gave up on a
socket it was to reconnect itself (`Max reconnections 5 reached:`, and the
`BinanceWebsocketUnableToConnect` after it), and any other error, stays ERROR."""

from __future__ import annotations

import logging

LIBRARY_LOGGER = "binance.ws.reconnecting_websocket"

_ROUTINE = ("ConnectionClosedOK (", "BinanceWebsocketClosed (")
_OWN_LIMIT = "Max reconnections 0 reached"
_GAVE_UP = "Unknown exception: BinanceWebsocketUnableToConnect"


class RoutineCloses(logging.Filter):
    """Logs python-binance's routine close errors at INFO (module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        # A `Max reconnections 0` was just logged: the `UnableToConnect` the library
        # raises from it (and logs, with no await between) is ours too.
        self._own_limit = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        message = record.getMessage()
        own_limit, self._own_limit = self._own_limit, message.startswith(_OWN_LIMIT)
        if (
            message.startswith(_ROUTINE)
            or self._own_limit
            or (own_limit and message.startswith(_GAVE_UP))
        ):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def install() -> None:
    """Put `RoutineCloses` on the library's websocket logger, once."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(f, RoutineCloses) for f in logger.filters):
        logger.addFilter(RoutineCloses())
