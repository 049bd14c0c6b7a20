"""A modify with no answer is a warning, as a cancel with no answer is (an IB desk
review): titled "Modify sent, no answer yet", it was toasted in red as an error, the
colour of a refusal or a failure, while the cancel's equivalent ("Cancel sent, no answer
yet") is yellow. The venue may still take it; nothing failed. The real IB adapter
through ib_async against the fake TWS (`delay_next_modify`)."""

from __future__ import annotations

from textual.widgets import Input

from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxbg665r32j6p9m9ab"
TITLE = "Modify sent, no answer yet"


async def test_a_modify_tws_does_not_answer_in_time_is_a_warning(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, client_id=1, order_timeout_s=0.3))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            view = desk.session.projection
            await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
            await desk.session.engine.submit(aapl_limit_buy(COID, fake.account))
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
                lambda: any(n.title.startswith("Modify") for n in desk.app._notifications),
            )
            [toast] = [n for n in desk.app._notifications if n.title.startswith("Modify")]
            assert (toast.title, toast.severity) == (TITLE, "warning"), (
                toast.title,
                toast.severity,
                toast.message,
            )
            assert "not known" in toast.message, toast.message
            assert "j6p9m9ab" in toast.message, toast.message
            await desk.session.close()
