"""The modify dialog refuses, before anything is sent, a change Binance would refuse after
cancelling the order (a trader's review on the Binance desk).

At Binance a modify is a cancelReplace (STOP_ON_FAILURE): Binance cancels the old order,
then places the new one; when it refuses the new one the old one is gone anyway (-2021)
and the desk said `Modify failed: ... nothing is working now`. Seen against the fake:

- BUY 0.1 ETH @ 1,990 with 1,000 USDT, `m`, Qty 0.6 (1,194.00), enter, y: the dialog did
  not check the account's funds (the ticket does, `[buying_power]`), Binance refused the
  new order for want of funds, and nothing was working;
- a triggered STOP_LIMIT (working as a limit, `trg`) given a new Price: its replacement,
  a new stop with the same stop, was refused ("Order would trigger immediately.") while
  the last trade was through the stop; the same for a stop changed past the last trade.

Now the dialog says each on the field the change touched (`orders.change_problems`):
`[buying_power]` against the available balance plus what the order holds, `[triggered]`
and `[stop_through]` judged on the desk's last trade; nothing is sent and the order
works at Binance as it was. The real app, session and python-binance against the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401
from tests.ui.test_trading_keys import select_quote

ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"
REPLACE = ("POST", "/api/v3/order/cancelReplace")


def problems_of(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


@asynccontextmanager
async def binance_desk(
    maker: Callable[..., Desk], balances: dict[str, str]
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None]]]:
    """The desk on the fake Binance, LIVE, its ETHUSDT quote in (the book 1,999.5 /
    2,000.5, the last trade 2,000)."""
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances=balances) as fake:
            await fake.set_book(ETH, [("1999", "5")], [("2001", "5")])
            await fake.trade(ETH, "2000", "0.1")
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            settings = Settings(brokers=[paper, binance_config(fake, [ETH])], risk=RiskConfig())
            desk = maker(settings=settings)
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_book(ETH, [("1999.5", "5")], [("2000.5", "5")])
                await until(pilot, "the quote", lambda: KEY in model.quotes)
                yield desk, fake, pilot
            await desk.session.close()


async def open_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    await pilot.press("escape", "3", "end", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    return screen


def open_at_binance(fake: FakeBinance) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [
        (o.side, o.orig_qty, o.price, o.stop_price)
        for o in fake.exchange.orders.values()
        if o.is_open
    ]


async def test_a_modify_the_account_cannot_pay_for_never_loses_the_order(make_desk) -> None:  # noqa: F811
    """BUY 0.1 @ 1,990 holds 199.00 of 1,000 USDT; Qty 0.6 needs 1,195.20 with the fee
    estimate: refused on the Qty, nothing sent; 0.5 (996.00 with the fee) goes."""
    async with binance_desk(make_desk, {"USDT": "1000"}) as (desk, fake, pilot):
        await select_quote(desk, pilot, KEY)
        await pilot.press("b", "0", ".", "1", "tab", *"1990", "f9")
        oms = desk.session.engine.oms
        await until(pilot, "NEW", lambda: [v.order.status.value for v in oms.working()]
                    == ["NEW"])  # fmt: skip
        await until(pilot, "the balance", lambda: desk.session.projection.balances[
            ("binance", "spot", "USDT")].available == Decimal("801"))  # fmt: skip
        screen = await open_modify(desk, pilot)
        quantity = screen.query_one("#m-quantity", Input)
        quantity.value = "0.6"  # 1,194.00 USDT
        await pilot.press("enter")
        await desk.settle(pilot)

        assert not isinstance(desk.app.screen, ConfirmScreen)  # nothing to ask about
        assert desk.app.screen is screen
        assert problems_of(screen) == (
            "Qty: need 1,195.20 USDT (notional 1,194.00 + fee ~1.19), available 801.00 "
            "USDT + 199.00 the order holds: qty at most 0.50201 at limit price [buying_power]"
        )
        assert REPLACE not in fake.requests
        assert open_at_binance(fake) == [("BUY", Decimal("0.1"), Decimal(1990), Decimal(0))]

        quantity.value = "0.5"  # 995.00 + fee ~1.00: within 801.00 + 199.00
        await pilot.press("enter")
        await desk.settle(pilot)
        if isinstance(desk.app.screen, ConfirmScreen):  # more than double: asked
            await pilot.press("y")
        await until(pilot, "the change", lambda: open_at_binance(fake)
                    == [("BUY", Decimal("0.5"), Decimal(1990), Decimal(0))])  # fmt: skip
        assert fake.requests.count(REPLACE) == 1


async def test_a_triggered_stop_limit_through_the_market_keeps_working(make_desk) -> None:  # noqa: F811
    """SELL STOP_LIMIT 0.5 stop 1,995 limit 2,005, triggered by a trade at 1,995 (the
    last trade still there): its Price changed to 2,008 is refused on the Price, the
    line under its Stop saying beforehand what a change does at Binance (ETHUSDT here
    has no `amendAllowed`: no word of a smaller quantity amended in place,
    tests/ui/test_modify_amend_words.py); nothing is sent and the order works as a
    limit at 2,005 as it did."""
    async with binance_desk(make_desk, {"USDT": "10000", "ETH": "2"}) as (desk, fake, pilot):
        engine = desk.session.engine
        coid = await engine.submit(
            OrderRequest(
                broker="binance", account="spot", instrument=KEY, side=Side.SELL,
                order_type=OrderType.STOP_LIMIT, quantity=Decimal("0.5"),
                stop_price=Decimal("1995"), limit_price=Decimal("2005"),
            )
        )  # fmt: skip
        await until(pilot, "the stop", lambda: engine.oms.get(coid) is not None)
        await fake.trade(ETH, "1995", "0.1")  # it triggers, resting at 2,005
        # (The desk's quote says the last trade as its book next moves.)
        await fake.set_book(ETH, [("1994.5", "5")], [("1995.5", "5")])
        await until(pilot, "the trigger", lambda: (view := engine.oms.get(coid)) is not None
                    and view.order.triggered)  # fmt: skip
        await until(pilot, "the last trade", lambda: desk.app.model.quotes[KEY].quote.last
                    == Decimal(1995))  # fmt: skip
        await desk.settle(pilot)

        screen = await open_modify(desk, pilot)
        note = str(screen.query_one("#m-stop-note", Static).render())
        assert note == (
            "Stop 1,995.00 has triggered: the order works as a limit at 2,005.00; it cannot "
            "change. A change at binance places a new stop: it waits for its trigger again, "
            "and is refused while the market is through it"
        )
        screen.query_one("#m-limit_price", Input).value = "2008"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        assert problems_of(screen) == (
            "Price: stop 1,995.00 has triggered and the order works as a limit at 2,005.00; "
            "a change at binance places it anew as a stop, which binance refuses while the "
            "market is through it (the last trade 1,995.00 is through it), after cancelling "
            "this one: nothing would be working. To work at other terms now, cancel it and "
            "place a limit [triggered]"
        )
        assert REPLACE not in fake.requests
        assert open_at_binance(fake) == [("SELL", Decimal("0.5"), Decimal(2005), Decimal(1995))]
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.triggered


async def test_a_stop_changed_past_the_last_trade_is_refused(make_desk) -> None:  # noqa: F811
    """An untriggered SELL STOP_LIMIT (stop 1,980) given Stop 2,000, the last trade:
    Binance refuses such a stop, after cancelling the order; the dialog refuses it on
    the Stop (`[stop_through]`, as the ticket says it of a new order)."""
    async with binance_desk(make_desk, {"USDT": "10000", "ETH": "2"}) as (desk, fake, pilot):
        engine = desk.session.engine
        coid = await engine.submit(
            OrderRequest(
                broker="binance", account="spot", instrument=KEY, side=Side.SELL,
                order_type=OrderType.STOP_LIMIT, quantity=Decimal("0.5"),
                stop_price=Decimal("1980"), limit_price=Decimal("1975"),
            )
        )  # fmt: skip
        await until(pilot, "the stop", lambda: (view := engine.oms.get(coid)) is not None
                    and view.order.status.value == "NEW")  # fmt: skip
        await until(pilot, "the last trade", lambda: desk.app.model.quotes[KEY].quote.last
                    == Decimal(2000))  # fmt: skip
        screen = await open_modify(desk, pilot)
        screen.query_one("#m-stop_price", Input).value = "2000"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        assert problems_of(screen) == (
            "Stop: a sell stop at or above the market (last trade 2,000.00) triggers at "
            "once, which binance refuses: a sell stop goes below 2,000.00 [stop_through]"
        )
        assert REPLACE not in fake.requests
        assert open_at_binance(fake) == [("SELL", Decimal("0.5"), Decimal(1975), Decimal(1980))]
