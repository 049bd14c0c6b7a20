"""The reference price (what the Quotes pane's Chg% is measured from) travels as its
own market-data event: quotes stay as they were on the wire, the event is routed and
coalesced like other market data, and the engine keeps no trace of it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, RiskConfig
from silvertine_tui.domain import Quote, ReferenceBasis, ReferencePrice
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import (
    MARKET_DATA_TYPES,
    QuoteEvent,
    ReferencePriceEvent,
    coalesce_key,
    decode,
    decode_flat,
    describe,
    encode,
)

REFERENCE = ReferencePrice(
    instrument="BTCUSDT.BINANCE",
    price=Decimal("64000.10"),
    basis=ReferenceBasis.OPEN_24H,
    venue_ts_ns=1_767_364_200_000_000_000,
)


def test_a_quote_on_the_wire_carries_nothing_more_than_before() -> None:
    """The 10,000-quotes-a-second path: the same seven fields at most, no reference."""
    quote = Quote(
        instrument="BTCUSDT.BINANCE",
        bid=Decimal("64000.00"),
        ask=Decimal("64000.01"),
        bid_size=Decimal("1"),
        ask_size=Decimal("2"),
        last=Decimal("64000.00"),
        venue_ts_ns=1,
    )
    body = json.loads(encode(QuoteEvent.create("binance", quote))[b"p"])
    assert set(body) == {"instrument", "bid", "ask", "bid_size", "ask_size", "last", "venue_ts_ns"}


def test_the_reference_is_market_data_of_its_own_type() -> None:
    event = ReferencePriceEvent.create("binance", REFERENCE, ts=5)
    assert event.type == "reference"
    assert "reference" in MARKET_DATA_TYPES
    bus = MemoryBus(BusOptions(prefix="p"))
    assert bus.layout.route(event) == "p:md:binance"
    # Coalesced like a quote (the newest per instrument), apart from the quotes.
    assert coalesce_key(event) == "binance|reference|BTCUSDT.BINANCE"
    fields = encode(event)
    assert json.loads(fields[b"p"]) == {
        "instrument": "BTCUSDT.BINANCE",
        "price": "64000.10",
        "basis": "open_24h",
        "venue_ts_ns": 1_767_364_200_000_000_000,
    }
    assert decode(fields) == event
    assert decode_flat([x for pair in fields.items() for x in pair]) == event
    assert describe(event) == "BTCUSDT.BINANCE reference 64,000.1 (open_24h)"


def test_a_reference_is_a_positive_price() -> None:
    for price in ("0", "-1", "NaN"):
        with pytest.raises(ValidationError):
            ReferencePrice(instrument="X.PAPER", price=Decimal(price), basis="session_open")


def test_the_engine_keeps_no_trace_of_references() -> None:
    engine = TradingEngine(MemoryBus(BusOptions()), [], RiskConfig())
    for n in range(300):
        engine.apply(ReferencePriceEvent.create("binance", REFERENCE, ts=n))
    assert len(engine.oms._seen) == 0
    assert (engine.version, engine.marks_version) == (0, 0)


async def test_a_broker_publishes_a_reference_when_new_or_changed_never_an_older_one() -> None:
    bus = MemoryBus(BusOptions(prefix="p"))
    await bus.start()
    broker = PaperBroker(PaperBrokerConfig(name="paper", market={"autorun": False}), bus)

    def ref(price: str, ts: int | None) -> ReferencePrice:
        return ReferencePrice(
            instrument="ETHUSDT.PAPER",
            price=Decimal(price),
            basis=ReferenceBasis.OPEN_24H,
            venue_ts_ns=ts,
        )

    async def published() -> list[tuple[Decimal, int | None]]:
        return [
            (e.event.payload.price, e.event.payload.venue_ts_ns)
            for e in await bus.read(bus.layout.md("paper"))
            if isinstance(e.event, ReferencePriceEvent)
        ]

    await broker.publish_reference(ref("100", 10))
    await broker.publish_reference(ref("100", 20))  # the same price: nothing new
    await broker.publish_reference(ref("101", 5))  # older than the one held (a slow REST)
    await broker.publish_reference(ref("101", 30))
    await broker.publish_reference(ref("102", None))  # no venue time: taken as it comes
    assert await published() == [(Decimal(100), 10), (Decimal(101), 30), (Decimal(102), None)]
    await broker.republish_references()  # what the health loop does every few seconds
    assert (await published())[-1] == (Decimal(102), None)
    assert len(await published()) == 4
    await bus.close()
