"""The ticket's fee estimate on the desk against the fake TWS, whose stocks cost 0.005
USD a share with a 1 USD minimum per fill (`tests/fakes/tws`: `default_commission`).

The reviewer's drive: after 6 AAPL shares charged the 1.00 minimum, 8 shares read
`fee~1.33` and 1,000 about 167: the minimum was taken for a fee per share, and the
funds check, which counts the fee, refused a buy the cash covered."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from tests.fakes.tws import FakeTws

from .conftest import Desk, until
from .test_ib_desk import filled_buy, ib_desk_settings, ib_quotes, ticket_text
from .test_trading_keys import open_buy_ticket, type_into


async def test_a_minimum_commission_is_estimated_as_a_minimum_on_the_ticket(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=ib_desk_settings(fake))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            await ib_quotes(desk, pilot, fake)
            for qty in ("6", "8"):
                order = await filled_buy(desk, pilot, "AAPL.SMART", qty, "150.05")
                assert order.fees == {"USD": Decimal("1")}  # the minimum, twice
            await desk.settle(pilot)
            view = desk.session.projection
            await until(pilot, "the cash after the fills", lambda: (
                b := view.balances.get(("ib", fake.account, "USD"))) is not None
                and b.available < Decimal(100_000) - 14 * Decimal("150.05"))  # fmt: skip
            balance = view.balances[("ib", fake.account, "USD")]
            # As many shares as the cash covers with a 1 USD fee (with 0.125 a share,
            # the 8-share fill's 1 USD as a rate, it did not).
            most = ((balance.available - 1) / Decimal("150.05")).quantize(
                Decimal(1), rounding=ROUND_DOWN
            )
            notional = most * Decimal("150.05")
            assert notional + most * Decimal("0.125") > balance.available
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            await type_into(pilot, str(most))
            await desk.settle(pilot)
            assert ticket_text(ticket, "problems") == ""
            assert ticket_text(ticket, "preview") == (
                f"{notional:,.2f} USD fee~1.00 pos 14->{14 + most}"
            )
            await pilot.press("escape")

            # 400 shares charged 2.00: the rate shows, above the minimum.
            await fake.set_quote("AAPL", "150.00", "150.05", ask_size="1000")
            order = await filled_buy(desk, pilot, "AAPL.SMART", "400", "150.05")
            assert order.fees == {"USD": Decimal("2")}
            await desk.settle(pilot)
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            await type_into(pilot, "600")
            await desk.settle(pilot)
            assert ticket_text(ticket, "preview") == "90,030.00 USD fee~3.00 pos 414->1,014"
            await pilot.press("escape")
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            await type_into(pilot, "8")
            await desk.settle(pilot)
            assert ticket_text(ticket, "preview") == "1,200.40 USD fee~1.00 pos 414->422"
            await pilot.press("escape")
            await desk.settle(pilot)
            await desk.session.close()
