"""A clean close of a Binance broker logs no ERROR: python-binance logged four at each
quit (`ConnectionClosedOK (sent 1000 (OK); ...)`, `BinanceWebsocketClosed (Connection
closed. Reconnecting...)`, `Max reconnections 0 reached:`, `Unknown exception:
BinanceWebsocketUnableToConnect ()`), routine for the sockets this adapter reconnects by
itself (brokers/binance/library_log.py), which a trader's `grep ERROR` took for
failures. A library that gives up on a socket it was to reconnect still logs ERROR."""

from __future__ import annotations

import asyncio
import logging

import pytest

from silvertine_tui.brokers.binance.library_log import LIBRARY_LOGGER, RoutineCloses
from tests.support.binance_broker import binance_session


async def test_a_clean_close_logs_no_error_and_keeps_the_librarys_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with binance_session() as s:
        await s.broker.subscribe(["ETHUSDT.BINANCE"])
        await asyncio.sleep(0.3)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    said = [r.getMessage() for r in caplog.records if r.name == LIBRARY_LOGGER]
    assert any(m.startswith("Max reconnections 0 reached") for m in said), said


def test_a_library_giving_up_on_its_own_reconnects_stays_an_error() -> None:
    routine = RoutineCloses()

    def level(message: str) -> str:
        record = logging.LogRecord(LIBRARY_LOGGER, logging.ERROR, __file__, 1, message, (), None)
        routine.filter(record)
        return record.levelname

    assert level("Max reconnections 5 reached:") == "ERROR"
    assert level("Unknown exception: BinanceWebsocketUnableToConnect ()") == "ERROR"
    assert level("Max reconnections 0 reached:") == "INFO"
    assert level("Unknown exception: BinanceWebsocketUnableToConnect ()") == "INFO"
    assert level("Unknown exception: BinanceWebsocketUnableToConnect ()") == "ERROR"
    assert level("Unknown exception: ValueError (bad frame)") == "ERROR"
    assert level("ConnectionClosedOK (sent 1000 (OK); then received 1000 (OK))") == "INFO"
