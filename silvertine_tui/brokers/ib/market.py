"""Quotes from `reqMktData`: one ticker per instrument, live or delayed, resubscribed
after TWS loses market data (1101) or the socket is rebuilt; and each instrument's
reference price, the prior session's close TWS sends on the same subscription (tick
type 9, 75 delayed: ib_async's `ticker.close`)."""

from __future__ import annotations

import math
from typing import Any

from ib_async import IB, Contract

from ...domain import Quote, ReferenceBasis, ReferencePrice
from .contracts import to_decimal

# reqMarketDataType numbers, and what TWS answers in marketDataType per ticker.
DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
DATA_TYPE_NAMES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}


# IB's "unset" double (Double.MAX_VALUE): no value, though a finite float.
UNSET = 1.7976931348623157e308
# No price as TWS and ib_async say it: NaN (ib_async's empty value), 0 and -1 (TWS's
# "none"). Not faults; other values that are no prices are (`bad_prices`).
QUOTED_FIELDS = ("bid", "ask", "last")


def _number(value: Any) -> float | None:
    """A finite number below IB's unset double, else None."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number) or abs(number) >= UNSET:
        return None
    return number


def _price(value: Any) -> Any:
    """A price that can mark: finite, above zero and below IB's unset double."""
    number = _number(value)
    if number is None or number <= 0:
        return None
    return to_decimal(number)


def _size(value: Any) -> Any:
    number = _number(value)
    if number is None or number < 0:
        return None
    return to_decimal(number)


def bad_prices(ticker: Any) -> list[str]:
    """The ticker's bid, ask or last that TWS sent and that are no prices: infinite,
    IB's unset double, or below zero (but TWS's -1 for none), as `"bid inf"`. Left out
    of the quote (`quote_of`): none of them makes a mark."""
    bad: list[str] = []
    for name in QUOTED_FIELDS:
        value = getattr(ticker, name, None)
        if value is None or value != value:  # (NaN: ib_async's "none")
            continue
        number = float(value)
        if not math.isfinite(number) or abs(number) >= UNSET or (number < 0 and number != -1):
            bad.append(f"{name} {number:g}")
    return bad


def quote_of(key: str, ticker: Any) -> Quote | None:
    """The ticker's best bid/ask (None while it has neither)."""
    bid, ask = _price(ticker.bid), _price(ticker.ask)
    last = _price(ticker.last)
    if bid is None and ask is None and last is None:
        return None
    return Quote(
        instrument=key,
        bid=bid,
        ask=ask,
        bid_size=_size(ticker.bidSize) if bid is not None else None,
        ask_size=_size(ticker.askSize) if ask is not None else None,
        last=last,
    )


def reference_of(key: str, ticker: Any) -> ReferencePrice | None:
    """The prior session's close as the instrument's reference (None until TWS sent
    one: ib_async keeps NaN)."""
    close = _price(ticker.close)
    if close is None:
        return None
    return ReferencePrice(instrument=key, price=close, basis=ReferenceBasis.PRIOR_CLOSE)


class MarketData:
    """The subscriptions, by instrument key."""

    def __init__(self, ib: IB) -> None:
        self.ib = ib
        self.contracts: dict[str, Contract] = {}
        self.tickers: dict[str, Any] = {}
        self.problems: dict[str, str] = {}  # key -> why it has no data (354, 420, ...)
        # key -> the prices TWS sends now that are no prices ("bid inf"): `bad_prices`
        self.bad: dict[str, str] = {}

    def key_of(self, ticker: Any) -> str | None:
        for key, known in self.tickers.items():
            if known is ticker:
                return key
        con_id = getattr(ticker.contract, "conId", 0)
        for key, contract in self.contracts.items():
            if contract.conId == con_id:
                return key
        return None

    def key_of_request(self, req_id: int) -> str | None:
        ticker = self.ib.wrapper.reqId2Ticker.get(req_id)
        return self.key_of(ticker) if ticker is not None else None

    def subscribe(self, key: str, contract: Contract) -> None:
        self.contracts[key] = contract
        self.problems.pop(key, None)
        self.tickers[key] = self.ib.reqMktData(contract, "", False, False)

    def unsubscribe(self, key: str) -> None:
        contract = self.contracts.pop(key, None)
        self.tickers.pop(key, None)
        self.bad.pop(key, None)
        self.problems.pop(key, None)
        if contract is not None and self.ib.isConnected():
            self.ib.cancelMktData(contract)

    def resubscribe(self) -> None:
        """Request every subscription again (after 1101, or on a new socket where the
        old tickers are gone)."""
        for key, contract in list(self.contracts.items()):
            if self.ib.isConnected():
                self.ib.cancelMktData(contract)
            self.subscribe(key, contract)

    def data_type(self, key: str) -> str:
        ticker = self.tickers.get(key)
        if key in self.problems:
            return "none"
        if ticker is None:
            return "none"
        return DATA_TYPE_NAMES.get(ticker.marketDataType, str(ticker.marketDataType))
