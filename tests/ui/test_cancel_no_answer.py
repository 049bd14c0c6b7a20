"""A cancel with no answer is not a failure (an IB desk review): TWS silent on the
cancel, or a cancel from elsewhere pending at IB (the order PENDING_CANCEL until TWS
reports its end), was toasted as a red "Cancel failed", while the order ends as IB
ends it and the docs call it "not a refusal" (a modify in the same case is titled
"Modify sent, no answer yet"). Now "Cancel sent, no answer yet", a warning, the reason
first as any cancel's toast. The real ib_async client against the fake TWS."""

from __future__ import annotations

from textual.pilot import Pilot

from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxc5jt6r1xip75quki"
TITLE = "Cancel sent, no answer yet"


async def resting(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> None:
    """BUY 5 AAPL.SMART at 148.20 working at IB (NEW), selected in the Orders pane."""
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
    await desk.session.engine.submit(aapl_limit_buy(COID, fake.account))
    await until(
        pilot,
        "NEW",
        lambda: (v := view.order(COID)) is not None and v.order.status is OrderStatus.NEW,
    )
    await desk.settle(pilot)
    await pilot.press("3", "home")


async def cancel_toast(desk: Desk, pilot: Pilot[None]) -> tuple[str, str, str]:
    await pilot.press("c")
    await until(
        pilot,
        "the cancel's toast",
        lambda: any(n.title.startswith("Cancel") for n in desk.app._notifications),
    )
    [toast] = [n for n in desk.app._notifications if n.title.startswith("Cancel")]
    return toast.title, toast.severity, toast.message


async def test_a_cancel_tws_does_not_answer_is_sent_not_failed(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.3))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await resting(desk, pilot, fake)
            fake.ignore_next("cancel_order")
            title, severity, message = await cancel_toast(desk, pilot)
            assert (title, severity) == (TITLE, "warning"), (title, severity, message)
            assert message.startswith("no answer from TWS"), message
            assert "ip75quki" in message, message
            await desk.session.close()


async def test_a_cancel_pending_at_ib_from_elsewhere_is_sent_not_failed(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.3))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await resting(desk, pilot, fake)
            await fake.cancel_pending_elsewhere(fake.orders[0].order_id)
            await desk.settle(pilot)
            title, severity, message = await cancel_toast(desk, pilot)
            assert (title, severity) == (TITLE, "warning"), (title, severity, message)
            assert "pending at IB" in message, message
            view = desk.session.projection
            await until(  # as the order shows meanwhile: not a cancel refused
                pilot,
                "PENDING_CANCEL",
                lambda: (
                    (v := view.order(COID)) is not None
                    and v.order.status is OrderStatus.PENDING_CANCEL
                ),
            )
            await desk.session.close()
