"""A quote whose bid (or ask) is 0 or below has no price on that side: an older
journal's Binance empty side, or another source's. `s` on it prefilled a SELL limit at
0.00 (and `ctrl+s` took the 0 as the new side's price): the ticket's price stays empty
there, for the trader to type."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Quote
from silvertine_tui.events import QuoteEvent, encode
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk
from .test_trading_keys import select_quote


def price_text(desk: Desk) -> str:
    return desk.app.screen.query_one(Ticket).draft().limit_price


async def test_a_side_priced_zero_prefills_no_price(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        empty_bid = Quote(instrument="ETHUSDT.PAPER", bid=Decimal("0"), ask=Decimal("3500.51"))
        bus.append_raw(
            bus.layout.md("paper"),
            encode(QuoteEvent.create("paper", empty_bid, ts=desk.clock.ns())),
        )
        await desk.settle(pilot)
        assert desk.app.model.quotes["ETHUSDT.PAPER"].quote.bid == 0

        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("s")
        assert price_text(desk) == ""
        await pilot.press("escape", "escape")
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("b")  # to buy: the ask
        assert price_text(desk) == "3500.51"
        await pilot.press("ctrl+s")  # flipped to sell: no bid, so no price
        assert price_text(desk) == ""
        await desk.session.close()
