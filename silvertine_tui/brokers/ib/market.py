"""Quotes from `reqMktData`: one ticker per instrument, live or delayed, asked again
after TWS loses market data (1101), regains IB (1102) or the socket is rebuilt; and each
instrument's reference price, the prior session's close TWS sends on the same
subscription (tick type 9, 75 delayed: ib_async's `ticker.close`).

A subscription asked again starts from nothing. ib_async keeps one `Ticker` per conId
and hands the same one back to a new `reqMktData`, with the bid, ask, last and sizes of
before still in it: a quote is built from every field the ticker holds, so TWS's first
tick of any kind after 1101 (the prior close alone) republished the quote of before the
outage as fresh, and a first bid made a mid with the ask of before. So the old ticker
is retired (`_retire`: out of ib_async's maps, its request ids known as retired) and
the new request gets a new one; until TWS sends a price on it the instrument is
`awaiting` its first quote, which the market link says. While TWS is cut off from IB
(1100) nothing of the tickers is quoted (`held`).

Delayed data (marketDataType 3, delayed; 4, delayed-frozen; or TWS's notice 10167 on
the subscription) is never published as live: its quotes carry the venue time they
are of at the latest, `DELAYED_BY_NS` before they arrived (`Quote.venue_ts_ns`; a live
quote carries none), so a reader can tell them from live ones by the payload itself,
and the broker says in the Log that those instruments' marks are that old.

Frozen data (marketDataType 2, frozen; 4, delayed-frozen: the last prices TWS had, once
the market closed) is not published as live either: its quotes carry the time of the
last trade TWS has (tick 45, `ticker.lastTimestamp`; 88 delayed,
`delayedLastTimestamp`), at the latest the time they arrived (15 minutes before it,
delayed-frozen), and the Log says which instruments' quotes are frozen (`venue_time`).
With no trade time from TWS (no trade since the close, or a contract TWS sends none
for, such as FX: only bid and ask, whose ticks carry no time) their age is not known:
stamped at the time they arrived, prices frozen for hours read as fresh. They carry
`UNKNOWN_TIME` (0, the epoch) instead: older than any quote, never fresh, and a reader
can tell "age not known" from an age.

TWS's 10090 on a subscription ("Part of requested market data is not subscribed.
Subscription-independent ticks are still active") is a partial subscription
(`partial`): its data flows, of the type TWS announced, and health says what part is
missing; it is no problem that leaves the instrument without data (`problems`)."""

from __future__ import annotations

import math
from typing import Any

from ib_async import IB, Contract

from ...domain import VENUE_TIME_UNKNOWN, Quote, ReferenceBasis, ReferencePrice
from .contracts import to_decimal

# reqMarketDataType numbers, and what TWS answers in marketDataType per ticker.
DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
DATA_TYPE_NAMES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}
# The marketDataType of delayed data, and how late it is at the least: IB delays it
# 15-20 minutes by exchange (config.py, `market_data_type`). Its quotes are stamped
# with the venue time they are of at the latest (`quote_of`).
DELAYED_TYPES = frozenset({3, 4})
DELAYED_BY_NS = 15 * 60 * 1_000_000_000
# The marketDataType of frozen data: the last prices TWS had when the market closed.
FROZEN_TYPES = frozenset({2, 4})
# The venue time of frozen data TWS gives no trade time for (`venue_time`): not known,
# so not now. The epoch: a quote as old as can be, which no reader takes for fresh.
UNKNOWN_TIME = VENUE_TIME_UNKNOWN


# IB's "unset" double (Double.MAX_VALUE): no value, though a finite float.
UNSET = 1.7976931348623157e308
# No price as TWS and ib_async say it: NaN (ib_async's empty value), 0 and -1 (TWS's
# "none"). Not faults; other values that are no prices are (`bad_prices`).
QUOTED_FIELDS = ("bid", "ask", "last")
# Retired request ids remembered (`MarketData.retired`): a few outages' worth.
RETIRED_KEPT = 10_000


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


def quote_of(key: str, ticker: Any, venue_ts_ns: int | None = None) -> Quote | None:
    """The ticker's best bid/ask (None while it has neither), stamped `venue_ts_ns`
    (the venue time its prices are of: given for delayed data, None for live)."""
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
        venue_ts_ns=venue_ts_ns,
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
        # key -> what part of its data the subscription now lacks (10090); it quotes
        self.partial: dict[str, str] = {}
        # key -> the prices TWS sends now that are no prices ("bid inf"): `bad_prices`
        self.bad: dict[str, str] = {}
        # key -> what TWS said (10197) when another session of the IB user took the live
        # data: nothing flows on the subscription until a quote comes again (`quoted`)
        self.competing: dict[str, str] = {}
        # key -> why it waits for its first quote on a subscription asked again ("TWS
        # lost market data (1101)"): nothing of before is quoted meanwhile.
        self.awaiting: dict[str, str] = {}
        # Keys whose ticker is not quoted at all (TWS cut off from IB: 1100) until their
        # subscription is asked again.
        self.held: set[str] = set()
        # request id -> key of the requests retired (`_retire`), newest last: what TWS
        # still says of one (a tick on its way, an error about its cancel) is not the
        # key's now.
        self.retired: dict[int, str] = {}
        # Keys whose subscription now TWS said sends delayed data (10167), whatever
        # the ticker's marketDataType says yet (`delayed`).
        self.delayed_notices: set[str] = set()
        # Keys whose quotes are delayed or frozen and the Log was told so, with the kind
        # told ("delayed", "frozen", "delayed-frozen": said again once they turned live
        # and then stale again, or another kind); keys to say it of at the next saying.
        self.delayed_said: dict[str, str] = {}
        self.delayed_unsaid: set[str] = set()
        # key -> the ticker its last quote was published from, and what that quote
        # said (`fresh`): an update of the ticker that says nothing new publishes none
        self.last_said: dict[str, tuple[Any, tuple[Any, ...]]] = {}

    def key_of(self, ticker: Any) -> str | None:
        """The key a ticker quotes: only the one ticker subscribed for it now (a retired
        one holds prices of before)."""
        for key, known in self.tickers.items():
            if known is ticker:
                return key
        return None

    def key_of_request(self, req_id: int) -> str | None:
        ticker = self.ib.wrapper.reqId2Ticker.get(req_id)
        return self.key_of(ticker) if ticker is not None else None

    def subscribe(self, key: str, contract: Contract) -> None:
        self.contracts[key] = contract
        self.problems.pop(key, None)
        self.partial.pop(key, None)
        self.competing.pop(key, None)
        self.delayed_notices.discard(key)
        self.tickers[key] = self.ib.reqMktData(contract, "", False, False)

    def subscribe_later(self, key: str, contract: Contract) -> None:
        """A key subscribed while there is no socket (ib_async asks nothing then: it
        raised ConnectionError): kept, and asked for on the next socket with the
        others (`resubscribe`)."""
        self.contracts[key] = contract
        self.problems.pop(key, None)
        self.partial.pop(key, None)
        self.competing.pop(key, None)
        self.delayed_notices.discard(key)

    def unsubscribe(self, key: str) -> None:
        contract = self.contracts.pop(key, None)
        self.last_said.pop(key, None)
        self.bad.pop(key, None)
        self.problems.pop(key, None)
        self.partial.pop(key, None)
        self.competing.pop(key, None)
        self.awaiting.pop(key, None)
        self.held.discard(key)
        self.delayed_notices.discard(key)
        self.delayed_said.pop(key, None)
        self.delayed_unsaid.discard(key)
        if contract is not None:
            self._retire(key, contract)  # (subscribed again later, it starts afresh)
        self.tickers.pop(key, None)

    def hold(self) -> None:
        """TWS is cut off from IB (1100): nothing the tickers hold is quoted until their
        subscriptions are asked again (1101, 1102, a new socket)."""
        self.held.update(self.contracts)

    def resubscribe(self, why: str) -> None:
        """Request every subscription again, each from nothing (after 1101 or 1102, or on
        a new socket where the old tickers are gone): `why` is what the market link says
        the instruments wait for their first quote since."""
        for key, contract in list(self.contracts.items()):
            self._retire(key, contract)
            self.subscribe(key, contract)
            self.held.discard(key)
            self.awaiting[key] = why

    def new_socket(self) -> None:
        """A new socket: ib_async numbers requests afresh (from TWS's next valid order
        id), so the retired ids of the last one may be an order's now."""
        self.retired.clear()

    def fresh(self, key: str, ticker: Any, quote: Quote) -> bool:
        """Whether `quote`, built from the key's ticker now, says something the last
        one published from that ticker did not: a bid, ask or last, a size (the last
        trade's too), the time of the last trade TWS gives, or the kind of data (live,
        delayed, frozen). A ticker update with none of these new (the prior close
        alone: tick type 9, at a new trading day or when TWS has it) publishes no
        quote: republished, the unchanged quote went out with a new time, and an
        instrument whose quotes had gone old read fresh with nothing new from the
        market. A new ticker (a subscription asked again) publishes its first."""
        said = (
            quote.bid,
            quote.ask,
            quote.bid_size,
            quote.ask_size,
            quote.last,
            _size(getattr(ticker, "lastSize", None)),
            getattr(ticker, "lastTimestamp", None),
            getattr(ticker, "delayedLastTimestamp", None),
            self.stale_kind(key),
        )
        last = self.last_said.get(key)
        if last is not None and last[0] is ticker and last[1] == said:
            return False
        self.last_said[key] = (ticker, said)
        return True

    def quoted(self, key: str) -> bool:
        """A quote of the key's subscription now was published: it waits no more, and
        data flows again after a competing session's 10197 (True when it had stopped
        it)."""
        self.awaiting.pop(key, None)
        return self.competing.pop(key, None) is not None

    @property
    def degraded(self) -> bool:
        """Whether what TWS sends on the subscriptions holds the market link DEGRADED:
        prices that are no prices (`bad`), data stopped by a competing session
        (`competing`)."""
        return bool(self.bad or self.competing)

    def _retire(self, key: str, contract: Contract) -> None:
        """Cancel the key's subscription and let go of its ticker: out of ib_async's
        maps, so the next `reqMktData` of the contract gets a new, empty one (ib_async
        keeps one per conId and hands it back, prices of before and all) and a tick
        still on its way for the old request lands nowhere (ib_async logs it)."""
        old = self.tickers.get(key)
        wrapper = self.ib.wrapper
        self.last_said.pop(key, None)  # (the next ticker's first quote is published)
        if self.ib.isConnected() and old is not None and self.ib.ticker(contract) is old:
            self.ib.cancelMktData(contract)
        if old is None:
            return
        for req_id, ticker in list(wrapper.reqId2Ticker.items()):
            if ticker is old:
                del wrapper.reqId2Ticker[req_id]
                self.retired[req_id] = key
        for by_type in wrapper.ticker2ReqId.values():
            by_type.pop(old, None)
        if wrapper.tickers.get(hash(contract)) is old:
            del wrapper.tickers[hash(contract)]
        wrapper.pendingTickers.discard(old)
        while len(self.retired) > RETIRED_KEPT:
            del self.retired[next(iter(self.retired))]

    def delayed(self, key: str) -> bool:
        """The key's subscription sends delayed data (marketDataType 3 or 4, or TWS's
        10167 on it)."""
        if key in self.delayed_notices:
            return True
        ticker = self.tickers.get(key)
        return ticker is not None and ticker.marketDataType in DELAYED_TYPES

    def stale_kind(self, key: str) -> str | None:
        """What the key's quotes are when they are not live: "delayed", "frozen" or
        "delayed-frozen" (None: live)."""
        ticker = self.tickers.get(key)
        frozen = ticker is not None and ticker.marketDataType in FROZEN_TYPES
        if self.delayed(key):
            return "delayed-frozen" if frozen else "delayed"
        return "frozen" if frozen else None

    def venue_time(self, key: str, ticker: Any, now_ns: int) -> int | None:
        """The venue time the ticker's prices are of at the latest (None: live data).
        Delayed data is `DELAYED_BY_NS` before `now_ns`. Frozen data (marketDataType 2
        or 4: the last prices TWS had when the market closed) is of the last trade TWS
        has (tick 45, `lastTimestamp`; 88 delayed, `delayedLastTimestamp`), at the
        latest `now_ns` (`DELAYED_BY_NS` before it, delayed): never a live quote. With
        no trade time from TWS its time is not known: `UNKNOWN_TIME`, never `now_ns`
        (the close's prices, hours old, read as fresh)."""
        kind = self.stale_kind(key)
        if kind is None:
            return None
        latest = now_ns - DELAYED_BY_NS if kind != "frozen" else now_ns
        if kind == "delayed":
            return latest
        stamps = ("delayedLastTimestamp", "lastTimestamp")
        if kind == "frozen":
            stamps = ("lastTimestamp", "delayedLastTimestamp")
        for name in stamps:
            when = getattr(ticker, name, None)
            if when is not None:
                stamp: int = round(when.timestamp() * 1_000_000) * 1_000
                return min(stamp, latest)
        return UNKNOWN_TIME

    def note_delayed(self, key: str, kind: str | None) -> bool:
        """A quote of the key was published, delayed or frozen (`kind`, `stale_kind`)
        or live (None). True when the Log is to be told that the key turned delayed or
        frozen (once until it turns live again or another kind)."""
        if kind is None:
            self.delayed_said.pop(key, None)
            self.delayed_unsaid.discard(key)
            return False
        if self.delayed_said.get(key) == kind:
            return False
        self.delayed_said[key] = kind
        first = not self.delayed_unsaid
        self.delayed_unsaid.add(key)
        return first

    def data_type(self, key: str) -> str:
        ticker = self.tickers.get(key)
        if key in self.problems or key in self.competing:
            return "none"
        if ticker is None:
            return "none"
        if key in self.delayed_notices and ticker.marketDataType not in DELAYED_TYPES:
            return "delayed"  # TWS's 10167 said so before its marketDataType did
        return DATA_TYPE_NAMES.get(ticker.marketDataType, str(ticker.marketDataType))
