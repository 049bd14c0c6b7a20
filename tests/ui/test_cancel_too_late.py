"""A cancel the trader sends from the Orders pane that reaches the venue after the order
filled: the desk says the cancel came too late, as a warning (not a red "Cancel failed":
nothing is wrong, and nothing is left to do), names the fill, and shows the order FILLED
with its position. On each venue: the paper simulator (its cancel latency, the market
trading through the order meanwhile), python-binance against the fake Binance and
ib_async against the fake TWS (each fake's `race_next_cancel`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.config import IBBrokerConfig, PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    Book,
    BookLevel,
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.binance import FakeBinance
from tests.fakes.tws import FakeTws
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.support.ib import FAST

from .conftest import Desk, until

S = OrderStatus


@dataclass
class Venue:
    """A desk trading at one venue: the resting buy to place there, what makes the
    next cancel meet a fill, and the position the fill leaves."""

    settings: Settings
    request: OrderRequest
    race: Callable[[Desk, Pilot[None], str], Awaitable[None]]
    position: tuple[str, str, str]  # broker, account, instrument
    held: Decimal  # the position the fill leaves (Binance takes a buy's fee in the base)
    said: str  # how the venue is named in the message


def paper_only(**paper: object) -> PaperBrokerConfig:
    fields: dict[str, object] = {
        "name": "paper",
        "account": "main",
        "seed": 7,
        "market": {"autorun": False},
        "latency": {"enabled": False},
        "symbols": ["AAPL"],
    }
    return PaperBrokerConfig(**{**fields, **paper})


def limit_buy(broker: str, account: str, instrument: str, qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account=account,
        instrument=instrument,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(qty),
        limit_price=Decimal(price),
    )


@asynccontextmanager
async def paper_venue() -> AsyncIterator[Venue]:
    async def trade_through(desk: Desk, pilot: Pilot[None], coid: str) -> None:
        # The cancel is journaled and on its way (400 ms of cancel latency): the market
        # trades through the order meanwhile.
        def pending() -> bool:
            view = desk.session.engine.oms.get(coid)
            return view is not None and view.order.status is S.PENDING_CANCEL

        await until(pilot, "the cancel on its way", pending)
        await desk.broker.on_market_data(
            Book(
                instrument="BTCUSDT.PAPER",
                bids=(BookLevel(price=Decimal("62980"), size=Decimal("1")),),
                asks=(BookLevel(price=Decimal("62990"), size=Decimal("1")),),
            )
        )

    latency = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 400, "jitter_ms": 0}
    yield Venue(
        Settings(brokers=[paper_only(symbols=["BTCUSDT"], latency=latency)]),
        limit_buy("paper", "main", "BTCUSDT.PAPER", "0.01", "63000.00"),
        trade_through,
        ("paper", "main", "BTCUSDT.PAPER"),
        Decimal("0.01"),
        "at the paper venue",
    )


@asynccontextmanager
async def binance_venue() -> AsyncIterator[Venue]:
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000"}) as fake:
            await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])

            async def race(desk: Desk, pilot: Pilot[None], coid: str) -> None:
                fake.race_next_cancel()

            yield Venue(
                Settings(brokers=[paper_only(), binance_config(fake, ["ETHUSDT"])]),
                limit_buy("binance", "spot", "ETHUSDT.BINANCE", "0.5", "1990"),
                race,
                ("binance", "spot", "ETHUSDT.BINANCE"),
                Decimal("0.4995"),
                "at Binance",
            )


@asynccontextmanager
async def tws_venue() -> AsyncIterator[Venue]:
    async with FakeTws() as fake:

        async def race(desk: Desk, pilot: Pilot[None], coid: str) -> None:
            fake.race_next_cancel("fill")

        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **FAST,
        )  # fmt: skip
        yield Venue(
            Settings(brokers=[paper_only(), ib]),
            limit_buy("ib", fake.account, "AAPL.SMART", "3", "140.00"),
            race,
            ("ib", fake.account, "AAPL.SMART"),
            Decimal(3),
            "at IB",
        )


VENUES = {"paper": paper_venue, "binance": binance_venue, "ib": tws_venue}


@pytest.mark.parametrize("name", list(VENUES))
async def test_a_cancel_that_meets_a_fill_is_said_too_late_and_the_fill_shown(
    make_desk, name: str
) -> None:
    async with VENUES[name]() as venue:
        desk: Desk = make_desk(settings=venue.settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            broker = venue.request.broker
            await until(pilot, f"{broker} LIVE", lambda: engine.broker(broker).health_state.state
                        is ConnectionState.LIVE)  # fmt: skip
            coid = await engine.submit(venue.request)

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "the order working", lambda: status() is S.NEW)
            await desk.settle(pilot)
            blotter = desk.app.screen.query_one(Blotter)
            assert blotter.row_keys == [coid]
            await pilot.press("escape", "3", "home")
            assert blotter.selected_order() == coid
            if name != "paper":
                await venue.race(desk, pilot, coid)
            await pilot.press("c")
            if name == "paper":
                await venue.race(desk, pilot, coid)

            def toasts() -> list[tuple[str, str, str]]:
                return [(n.title, n.message, n.severity) for n in desk.app._notifications]

            await until(pilot, "the cancel's answer", lambda: any(
                t.startswith("Cancel") for t, _, _ in toasts()))  # fmt: skip
            [(title, said, severity)] = [t for t in toasts() if t[0].startswith("Cancel")]
            assert (title, severity) == ("Cancel came too late", "warning"), toasts()
            # The title says it came too late; the text what became of the order, named
            # once by its short id (tests/ui/test_too_late_said_once.py).
            assert coid not in said
            assert said.startswith(f"the order was already FILLED {venue.said}")
            assert "; the fill stands" in said
            assert "nothing is working there for it" in said
            assert "reject" not in said.lower()
            await until(pilot, "FILLED on the desk", lambda: status() is S.FILLED)
            await desk.settle(pilot)
            assert blotter.row_keys == []  # no longer among the working orders
            assert engine.portfolio.position(*venue.position) == venue.held
        await desk.session.close()


async def test_a_modify_that_meets_a_fill_at_ib_is_said_too_late(make_desk) -> None:
    """The same race for a change: TWS fills the order the moment before it takes the
    modify, and refuses the modify (104). The trader reads that the change came too
    late (a warning naming the fill), not a success followed by a red "TWS error 104"."""
    async with FakeTws() as fake:
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **FAST,
        )  # fmt: skip
        desk: Desk = make_desk(settings=Settings(brokers=[paper_only(), ib]))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            await until(pilot, "ib LIVE", lambda: engine.broker("ib").health_state.state
                        is ConnectionState.LIVE)  # fmt: skip
            coid = await engine.submit(limit_buy("ib", fake.account, "AAPL.SMART", "3", "140.00"))

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "the order working", lambda: status() is S.NEW)
            await desk.settle(pilot)
            await pilot.press("escape", "3", "home", "m")
            await pilot.pause()
            screen = desk.app.screen
            assert isinstance(screen, ModifyScreen)
            screen.query_one("#m-limit_price", Input).value = "140.10"
            fake.race_next_modify()
            await pilot.press("enter")

            def toasts() -> list[tuple[str, str, str]]:
                return [(n.title, n.message, n.severity) for n in desk.app._notifications]

            await until(pilot, "the modify's answer", lambda: any(
                t.startswith("Modify") for t, _, _ in toasts()))  # fmt: skip
            await desk.settle(pilot)
            assert [t for t in toasts() if t[2] == "error"] == []
            [(title, said, severity)] = [t for t in toasts() if t[0].startswith("Modify")]
            assert (title, severity) == ("Modify came too late", "warning")
            assert coid not in said
            assert said.startswith("the order was already FILLED at IB")
            assert "the order was already FILLED at IB (3 filled; the fill stands)" in said
            assert "nothing was changed" in said
            assert status() is S.FILLED
            assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 3
        await desk.session.close()
