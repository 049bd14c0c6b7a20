"""Money reads as money. A fee in a cent currency was said on the instrument's tick
places (`fees 1,562.00000 USD`, `fee 2.00000 USD` on EUR.USD, whose tick has five):
now to the cent, with its own decimals where it has more (a fee is never rounded to a
`0.00` that reads as none). And the Log's BALANCE lines name their broker: with paper
and Binance both holding USDT, `BALANCE USDT total 100,000.00 available 99,351.00`
said whose in neither."""

from __future__ import annotations

import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from textual.widgets import Static

from silvertine_tui.domain import Balance, Fill, Instrument, OrderStatus, Side
from silvertine_tui.events import BalanceEvent, FillEvent
from silvertine_tui.events.summary import describe, fee_text
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.widgets.event_log import EventLog

from .conftest import Desk, limit_buy, make_settings

XRP = "XRPUSDT.PAPER"  # a tick of 0.0001 in USDT
EUR_USD = Instrument(
    symbol="EUR.USD",
    venue="IDEALPRO",
    quote_currency="USD",
    tick_size="0.00005",
    lot_size="1",
)


def body_lines(screen: OrderHistoryScreen) -> list[str]:
    console = Console(width=250, record=True, color_system=None, file=io.StringIO())
    for part in screen.query_one("#history-body").query(Static):
        console.print(part.content)
    return [line.rstrip() for line in console.export_text().splitlines() if line.strip()]


async def test_the_history_says_fees_in_money_to_the_cent_at_80x24(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(paper={"symbols": ["XRPUSDT", "BTCUSDT"]}))
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        cid = "st000000000000000501"
        await engine.submit(limit_buy(cid, XRP, "20000", "0.5800"))
        await desk.settle(pilot)
        view = engine.oms.get(cid)
        assert view is not None
        assert view.order.status is OrderStatus.NEW
        for n, fee in enumerate(("2", "1560"), 1):  # the venue's reports, as published
            made = Fill(
                exec_id=f"{cid}-x{n}",
                client_order_id=cid,
                broker="paper",
                account="main",
                instrument=XRP,
                side=Side.BUY,
                quantity=Decimal("10"),
                price=Decimal("0.5800"),
                fee=Decimal(fee),
                fee_currency="USDT",
            )
            await desk.session.bus.publish(FillEvent.create("paper/main", made, ts=desk.clock.ns()))
        await desk.settle(pilot)
        await pilot.press("3", "end", "h")
        await desk.settle(pilot)
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        ids = str(screen.query_one("#history-ids", Static).render())
        assert ids.endswith("fees 1,562.00 USDT"), ids
        fills = [line for line in body_lines(screen) if " fill " in line]
        assert "fee 2.00 USDT" in fills[0], fills
        assert "fee 1,560.00 USDT" in fills[1], fills
        await desk.session.close()


def test_a_fee_in_usd_on_eur_usd_is_to_the_cent() -> None:
    assert fee_text(Decimal("2"), "USD", EUR_USD) == "2.00"
    assert fee_text(Decimal("1562.00000"), "USD", EUR_USD) == "1,562.00"
    assert fee_text(Decimal("0.00015"), "USD", EUR_USD) == "0.00015"  # never `0.00`
    made = Fill(
        exec_id="x1",
        client_order_id="st000000000000000601",
        broker="ib",
        account="DU1",
        instrument=EUR_USD.key,
        side=Side.BUY,
        quantity=Decimal("4"),
        price=Decimal("1.07055"),
        fee=Decimal("2"),
        fee_currency="USD",
    )
    said = describe(FillEvent.create("ib/DU1", made), instruments={EUR_USD.key: EUR_USD}.get)
    assert said == "FILL BUY 4 EUR.USD.IDEALPRO @ 1.07055 fee 2.00 USD (…0601)"


fine_ticks = st.sampled_from(["1", "0.01", "0.0001", "0.00005", "0.00000001"])


@given(
    fee=st.decimals(min_value=Decimal("1e-8"), max_value=Decimal("1e9"), places=8),
    currency=st.sampled_from(["USD", "EUR", "JPY", "USDT", "USDC", "FDUSD"]),
    tick=fine_ticks,
)
def test_a_fee_in_money_is_as_charged_and_to_the_cent(
    fee: Decimal, currency: str, tick: str
) -> None:
    inst = Instrument(symbol="X", venue="V", quote_currency=currency, tick_size=tick, lot_size="1")
    said = fee_text(fee, currency, inst)
    _, _, cents = said.partition(".")
    assert len(cents) >= 2, said
    assert Decimal(said.replace(",", "")) == fee  # as charged: never rounded
    assert len(cents) == max(2, -fee.normalize().as_tuple().exponent), said  # type: ignore[operator]


def test_a_balance_line_names_its_broker() -> None:
    def line(broker: str, account: str) -> str:
        usdt = Balance(
            broker=broker,
            account=account,
            currency="USDT",
            total=Decimal("100000"),
            available=Decimal("99351"),
            locked=Decimal("649"),
        )
        return describe(BalanceEvent.create(f"{broker}/{account}", usdt))

    binance, paper = line("binance", "fake"), line("paper", "main")
    assert binance == "BALANCE USDT binance total 100,000.00 available 99,351.00"
    assert paper == "BALANCE USDT paper total 100,000.00 available 99,351.00"


async def test_the_log_at_80x24_names_the_balances_broker(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(
            limit_buy("st000000000000000701", "BTCUSDT.PAPER", "0.01", "63000.00")
        )
        await desk.settle(pilot)
        await pilot.press("7")
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        lines = [line.text for line in desk.app.model.log if line.text.startswith("BALANCE")]
        assert lines
        assert lines[-1].startswith("BALANCE USDT paper "), lines
        shown = "\n".join(str(log.render_line(y).text) for y in range(log.size.height))
        assert "BALANCE USDT paper total" in shown, shown
        await desk.session.close()
