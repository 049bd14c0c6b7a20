"""The modify dialog says a smaller quantity alone is amended in place at Binance only on
a symbol whose exchangeInfo says `amendAllowed` (the real app, session and
python-binance against the fake Binance: ETHUSDT without it, BTCUSDT with it).

Before, the words came from the broker-wide `Capabilities.amend_quantity_down`: the
line under a triggered stop's Stop said "a smaller quantity alone is amended in place,
the order kept" on ETHUSDT too, where the adapter cancel-replaces every change (a new
venue order, its place in the queue lost), and the dialog closed on the stop's quantity
cut as if it were amended: only the adapter's last check before a cancelReplace (its
stop through the last trade) refused it, as "Modify failed". Now the adapter names the
symbols that amend (`Capabilities.amend_quantity_down_on`, carried to the desk in its
profile as the rest of its capabilities are) and the dialog judges each order's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderType, Side
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.support.binance_broker import binance_config, quick_library_timings
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401

ETH, BTC = "ETHUSDT", "BTCUSDT"
KEY, BTC_KEY = "ETHUSDT.BINANCE", "BTCUSDT.BINANCE"
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
REPLACE = ("POST", "/api/v3/order/cancelReplace")
CANCEL = ("DELETE", "/api/v3/order")


def problems_of(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


@asynccontextmanager
async def binance_desk(
    maker: Callable[..., Desk],
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None]]]:
    """The desk on the fake Binance (ETHUSDT not amendable, BTCUSDT amendable), LIVE,
    ETHUSDT's quote in (the last trade 2,000)."""
    with quick_library_timings():
        async with FakeBinance(
            symbols=[
                SymbolSpec(ETH, "ETH", "USDT"),
                SymbolSpec(BTC, "BTC", "USDT", amend_allowed=True),
            ],
            balances={"USDT": "10000", "ETH": "2"},
        ) as fake:
            await fake.set_book(ETH, [("1999", "5")], [("2001", "5")])
            await fake.trade(ETH, "2000", "0.1")
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            settings = Settings(
                brokers=[paper, binance_config(fake, [ETH, BTC])], risk=RiskConfig()
            )
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


async def test_the_desk_knows_which_binance_symbols_amend(make_desk) -> None:  # noqa: F811
    """The desk's view of Binance's capabilities (what the dialog reads): a smaller
    quantity alone is amended on BTCUSDT, not on ETHUSDT, nor on a symbol not known."""
    async with binance_desk(make_desk) as (desk, _fake, _pilot):
        caps = desk.app.desk.view.capabilities("binance")
        assert caps is not None
        assert caps.amends_quantity_down(BTC_KEY)
        assert not caps.amends_quantity_down(KEY)
        assert not caps.amends_quantity_down("XRPUSDT.BINANCE")
        assert not caps.amends_quantity_down(None)
        assert caps.modify_in_place({"quantity"}, smaller=True, instrument=BTC_KEY)
        assert not caps.modify_in_place({"quantity"}, smaller=True, instrument=KEY)


async def test_a_triggered_stops_cut_on_a_symbol_without_amend_is_not_said_amended(
    make_desk,  # noqa: F811
) -> None:
    """SELL STOP_LIMIT 0.5 stop 1,995 limit 2,005 on ETHUSDT (no `amendAllowed`),
    triggered by a trade at 1,995 (the last trade still there). The line under its Stop
    does not say a smaller quantity alone is amended; its Qty cut to 0.3 is refused as
    any change of it (its replacement a stop the market is through), nothing sent: the
    stop works at Binance as it did."""
    async with binance_desk(make_desk) as (desk, fake, pilot):
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
        await fake.set_book(ETH, [("1994.5", "5")], [("1995.5", "5")])
        await until(pilot, "the trigger", lambda: (view := engine.oms.get(coid)) is not None
                    and view.order.triggered)  # fmt: skip
        await until(pilot, "the last trade", lambda: desk.app.model.quotes[KEY].quote.last
                    == Decimal(1995))  # fmt: skip
        await desk.settle(pilot)
        venue_id = fake.order_by_client_id(coid).order_id
        sent = len(fake.requests)

        await pilot.press("escape", "3", "end", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        note = str(screen.query_one("#m-stop-note", Static).render())
        assert note == (
            "Stop 1,995.00 has triggered: the order works as a limit at 2,005.00; it cannot "
            "change. A change at binance places a new stop: it waits for its trigger again, "
            "and is refused while the market is through it"
        )
        quantity = screen.query_one("#m-quantity", Input)
        quantity.focus()
        quantity.value = "0.3"
        await pilot.pause()
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        assert isinstance(screen, ModifyScreen)  # (the check above narrowed it to Screen)
        await until(pilot, "the problems", lambda: bool(problems_of(screen)))
        problems = problems_of(screen)
        assert problems.startswith(
            "Qty: stop 1,995.00 has triggered and the order works as a limit at 2,005.00"
        ), problems
        assert problems.endswith(
            "To work at other terms now, cancel it and place a limit [triggered]"
        ), problems
        assert "amended in place" not in problems
        after = fake.requests[sent:]
        assert REPLACE not in after
        assert AMEND not in after
        assert CANCEL not in after
        at_binance = fake.order_by_client_id(coid)
        assert (at_binance.order_id, at_binance.orig_qty, at_binance.is_open) == (
            venue_id,
            Decimal("0.5"),
            True,
        )
