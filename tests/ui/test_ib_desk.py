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
from tests.fakes.tws import FakeTws
from tests.support.ib import FAST

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
