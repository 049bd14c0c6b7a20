"""The desk with paper and IB side by side: the real app, the real session and engine,
IB through the real ib_async client against the fake TWS. An IB order is placed,
modified, filled and shown like a paper one; IB's health shows its links."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from textual.pilot import Pilot

from silvertine_tui.config import IBBrokerConfig, PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.tws import FakeTws
from tests.support.ib import FAST
from tests.unit.test_ib_adopted_orders import cancel_elsewhere
from tests.unit.test_ib_cancel_everything import place_elsewhere

from .conftest import Desk


async def until(pilot: Pilot[None], what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5.0
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


async def test_an_ib_order_trades_on_the_desk_beside_paper(make_desk) -> None:
    async with FakeTws() as fake:
        paper = PaperBrokerConfig(
            name="paper", account="main", seed=7, market={"autorun": False},
            latency={"enabled": False}, symbols=["AAPL"],
        )  # fmt: skip
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], **FAST
        )
        desk: Desk = make_desk(settings=Settings(brokers=[paper, ib]))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            model = desk.app.model
            component = "broker:ib/DU123456"
            await until(pilot, "IB LIVE in health", lambda: component in model.health
                        and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
            metrics = model.health[component].metrics
            assert metrics["link:api"] == "LIVE"
            assert metrics["link:ib"] == "LIVE"
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the IB quote", lambda: "AAPL.SMART" in model.quotes)
            await desk.step(pilot, 1)  # the paper market moves
            assert "AAPL.PAPER" in model.quotes
            coid = await engine.submit(
                OrderRequest(
                    broker="ib",
                    account=fake.account,
                    instrument="AAPL.SMART",
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=Decimal(10),
                    limit_price=Decimal("149.50"),
                )
            )

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "NEW", lambda: status() is OrderStatus.NEW)
            await engine.modify(coid, limit_price=Decimal("149.60"))
            await until(pilot, "the modify", lambda: fake.orders[0].ticket.limit_price
                        == Decimal("149.60") and status() is OrderStatus.NEW)  # fmt: skip
            await fake.fill(fake.orders[0].order_id)
            await until(pilot, "FILLED", lambda: status() is OrderStatus.FILLED)
            await until(pilot, "the fill in the log", lambda: any(
                "AAPL.SMART" in line.text for line in model.fills))  # fmt: skip
            view = engine.oms.get(coid)
            assert view is not None
            assert view.order.filled_qty == 10
            assert view.order.fees == {"USD": Decimal("1")}
            assert view.order.venue_order_id == str(fake.orders[0].perm_id)
            assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 10
            await desk.settle(pilot)
            await asyncio.sleep(0)
            await desk.session.close()


async def test_an_order_another_program_placed_is_followed_and_its_cancel_said_at_once(
    make_desk,
) -> None:
    """The drive that found it: an order another program placed (client id 9) is
    adopted when the desk starts. Cancelling it from the Orders pane says at once who
    placed it and what reaches it; once that program cancels it, the desk shows it
    CANCELED (TWS tells this client nothing of it: the adapter asks while it works)."""
    async with FakeTws() as fake:
        perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        paper = PaperBrokerConfig(
            name="paper", account="main", seed=7, market={"autorun": False},
            latency={"enabled": False}, symbols=["AAPL"],
        )  # fmt: skip
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **{**FAST, "other_clients_poll_s": 0.05},
        )  # fmt: skip
        desk: Desk = make_desk(settings=Settings(brokers=[paper, ib]))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine

            def status() -> OrderStatus | None:
                view = engine.oms.get("other-program")
                return view.order.status if view is not None else None

            await until(pilot, "the adopted order", lambda: status() is OrderStatus.NEW)
            await desk.settle(pilot)
            blotter = desk.app.screen.query_one(Blotter)
            assert blotter.row_keys == ["other-program"]
            await pilot.press("escape", "3", "home", "c")
            await until(pilot, "the cancel's answer", lambda: any(
                n.title == "Cancel failed" for n in desk.app._notifications))  # fmt: skip
            [said] = [n.message for n in desk.app._notifications if n.title == "Cancel failed"]
            assert "placed by client id 9" in said
            assert "cancel it in TWS or from client id 9" in said
            assert "kill switch" in said
            assert status() is OrderStatus.NEW
            await cancel_elsewhere(fake, 9, perm)
            await until(pilot, "CANCELED on the desk", lambda: status() is OrderStatus.CANCELED)
            await desk.settle(pilot)
            assert blotter.row_keys == []  # no longer among the working orders
            await asyncio.sleep(0)
            await desk.session.close()
