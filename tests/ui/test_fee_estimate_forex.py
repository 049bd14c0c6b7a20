"""The ticket's fee estimate of an IB currency order before any fill, against the fake
TWS. IB charges currencies 0.20 basis points of the trade value, at least 2 USD an
order; the estimate was 0.1% of the notional (`fee~21.56` over an order IB charged 2.00:
an IB drill's finding). The adapter lists the published commission with the instrument
(`Instrument.fee_rate`, `fee_minimum`), and the ticket estimates from it until fills
say what the venue charges."""

from __future__ import annotations

from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until
from .test_ib_desk import ticket_text
from .test_trading_keys import open_buy_ticket, type_into

FX = "EUR.USD.IDEALPRO"


async def test_a_currency_order_s_fee_is_estimated_at_ib_s_published_commission(
    make_desk,
) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, symbols=["AAPL", FX]))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            model = desk.app.model
            await fake.set_quote("EUR.USD", "1.07795", "1.07800")
            await until(pilot, "the EUR.USD quote", lambda: FX in model.quotes)
            await desk.settle(pilot)
            # 20,000 EUR: 21,560.00 USD, whose 0.20 bp is 0.43: the 2 USD minimum.
            ticket = await open_buy_ticket(desk, pilot, FX)
            await type_into(pilot, "20000")
            await desk.settle(pilot)
            preview = ticket_text(ticket, "preview")
            assert "fee~2.00" in preview, preview
            await pilot.press("escape")
            # 20,000,000 EUR: 21,560,000.00 USD at 0.20 bp, 431.20 (0.1% read 21,560).
            ticket = await open_buy_ticket(desk, pilot, FX)
            await type_into(pilot, "20000000")
            await desk.settle(pilot)
            preview = ticket_text(ticket, "preview")
            assert "fee~431.20" in preview, preview
            await pilot.press("escape")
            await desk.settle(pilot)
            await desk.session.close()
