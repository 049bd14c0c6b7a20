"""A modify TWS does not answer within `order_timeout_s`: TWS may still take it, so the
toast says it was sent with no answer yet (it read "Modify failed", and a trader who
believes that changes the order again), and when TWS then confirms it the order's line
reads as the desk's own modify accepted late. The real IB adapter through ib_async
against the fake TWS (`delay_next_modify`)."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input

from silvertine_tui.domain import (
    ConnectionState,
    OrderStatus,
)
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxbg665r32j6p9l8aa"
TITLE = "Modify sent, no answer yet"


async def test_a_modify_tws_answers_late_is_sent_not_failed(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, client_id=1, order_timeout_s=0.3))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            view = desk.session.projection
            await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
            engine = desk.session.engine
            await engine.submit(aapl_limit_buy(COID, fake.account))
            await until(
                pilot,
                "the order NEW",
                lambda: (
                    (found := view.order(COID)) is not None
                    and found.order.status is OrderStatus.NEW
                ),
            )
            fake.delay_next_modify(0.8)
            await pilot.press("3", "home", "m")
            await pilot.pause()
            screen = desk.app.screen
            assert isinstance(screen, ModifyScreen)
            screen.query_one("#m-limit_price", Input).value = "148.10"
            await pilot.press("enter")
            await until(
                pilot,
                "the modify's toast",
                lambda: any(n.title in (TITLE, "Modify failed") for n in desk.app._notifications),
            )
            titles = [n.title for n in desk.app._notifications]
            assert "Modify failed" not in titles, titles
            [message] = [n.message for n in desk.app._notifications if n.title == TITLE]
            assert "not known" in message, message
            await until(
                pilot,
                "TWS's late confirmation",
                lambda: (
                    (found := view.order(COID)) is not None
                    and found.order.limit_price == Decimal("148.10")
                ),
            )
            found = view.order(COID)
            assert found is not None
            reasons = [e.payload.reason for e in found.history if isinstance(e, OrderUpdateEvent)]
            assert reasons[-1].startswith("modify accepted late"), reasons
            await desk.session.close()
