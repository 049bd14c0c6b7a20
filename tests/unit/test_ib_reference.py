"""IB's reference price reaches the bus: the prior session's close, which TWS sends on
the reqMktData subscription as tick type 9 (ib_async's `ticker.close`), against the
fake TWS with the real ib_async client."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ReferenceBasis, ReferencePrice
from silvertine_tui.events import QuoteEvent, ReferencePriceEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

AAPL = "AAPL.SMART"


async def market(d: Desk) -> list[QuoteEvent | ReferencePriceEvent]:
    return [
        e.event
        for e in await d.bus.read(d.bus.layout.md("ib"))
        if isinstance(e.event, QuoteEvent | ReferencePriceEvent)
    ]


async def references(d: Desk) -> list[ReferencePrice]:
    return [e.payload for e in await market(d) if isinstance(e, ReferencePriceEvent)]


async def test_the_prior_close_reaches_the_bus_before_the_quotes_it_measures() -> None:
    async with FakeTws(closes={"AAPL": "148.20"}) as fake, desk(fake, connect=False) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.connect()
        await d.wait(lambda: AAPL in d.broker.references, "the close")
        await fake.set_quote("AAPL", "150.10", "150.15")
        await d.broker.settle()
        [close] = await references(d)
        assert close == ReferencePrice(
            instrument=AAPL, price=Decimal("148.20"), basis=ReferenceBasis.PRIOR_CLOSE
        )
        kinds = [type(e) for e in await market(d)]
        assert kinds.index(ReferencePriceEvent) < kinds.index(QuoteEvent)
        # Quotes go on; the close is not published again with each of them.
        assert kinds.count(QuoteEvent) >= 2
        assert kinds.count(ReferencePriceEvent) == 1


async def test_a_new_trading_day_publishes_the_new_close() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL", "150.00", "150.05", last="150.02")
        await d.broker.settle()
        assert await references(d) == []  # no close yet: no reference ('-')
        await fake.new_trading_day()  # the day closed at its last trade
        await d.wait(lambda: AAPL in d.broker.references, "the close")
        await d.broker.settle()
        assert [r.price for r in await references(d)] == [Decimal("150.02")]


async def test_delayed_data_carries_the_delayed_close() -> None:
    async with (
        FakeTws(market_data="delayed", closes={"AAPL": "148.20"}) as fake,
        desk(fake, market_data_type="delayed") as d,
    ):
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.wait(lambda: AAPL in d.broker.references, "the delayed close")
        assert d.broker.health_state.extra[f"md_type:{AAPL}"] == "delayed"
        await d.broker.settle()
        assert [r.price for r in await references(d)] == [Decimal("148.20")]
