"""One venue rejection, one toast (an IB desk review at 120x36).

TWS's 201 on a new order sent from the ticket gave two error toasts with the same
reason: the ticket's answer (`Order not placed`) and the journal's REJECTED read back
(`Order rejected`); at 120x36 the pair covered most of the screen. The ticket's stays
(the reason first, as the ticket lists it under Send); the REJECTED is a Log line.
Any other rejection is still a toast: another desk's order, an order of this ticket
that the venue rejected after taking it or after the ticket said it had no answer.
And a modify TWS refuses is said once, by its own toast.

The real ib_async client against the fake TWS; nothing of ours is mocked. The model's
rule is checked on its own too, whatever order the REJECTED and the answer come in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until
from .test_ticket_venue_answer import ib_ready, order_of, said, status_is, unanswered
from .test_trading_keys import open_buy_ticket, type_into

MARGIN = "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. INSUFFICIENT MARGIN"
OTHER_DESK = "st000000000000009999"


def toasts(desk: Desk) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in desk.app._notifications]


def errors(desk: Desk) -> list[tuple[str, str]]:
    return [(title, message) for title, message, severity in toasts(desk) if severity == "error"]


def rejected_in_log(desk: Desk, coid: str) -> bool:
    """The model has read the order's REJECTED (the Log's error line ends in its id)."""
    tail = coid[-4:]
    return any("REJECTED" in line.text and tail in line.text for line in desk.app.model.log)


async def after_a_while(desk: Desk, pilot: Pilot[None]) -> None:
    """Frames enough for anything read late to be said (toasts are taken each frame)."""
    for _ in range(3):
        await desk.next_second(pilot)
        await pilot.pause(0.05)


async def test_a_201_on_the_tickets_order_is_one_toast(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await ib_ready(desk, pilot, fake)
            desk.app.clear_notifications()
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            ticket.query_one("#t-limit_price", Input).value = "149.50"
            await type_into(pilot, "10")
            fake.reject_next_order(201, MARGIN)
            await pilot.press("f9")
            await until(pilot, "REJECTED", lambda: said(ticket, "status") == "REJECTED: why below")
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.REJECTED)
            await until(pilot, "the REJECTED read", lambda: rejected_in_log(desk, coid))
            await after_a_while(desk, pilot)
            [(title, message)] = errors(desk)
            assert title == "Order not placed"
            assert MARGIN in message, message

            # Another desk's order rejected on the bus: its toast, as before.
            bus = desk.session.bus
            other = OrderUpdate(
                client_order_id=OTHER_DESK, status=OrderStatus.REJECTED, reason="no margin"
            )
            source = f"ib/{fake.account}"
            await bus.publish(OrderUpdateEvent.create(source, other, ts=desk.clock.ns()))
            await until(pilot, "the other REJECTED read", lambda: rejected_in_log(desk, OTHER_DESK))
            await after_a_while(desk, pilot)
            # (The engine's anomaly for an order its journal never had is its own toast.)
            titles = [t for t, _ in errors(desk)]
            assert titles.count("Order not placed") == 1, titles
            assert titles.count("Order rejected") == 1, titles
            [message] = [m for t, m in errors(desk) if t == "Order rejected"]
            assert "no margin" in message
            await desk.session.close()


async def test_a_rejection_after_no_answer_is_still_a_toast(make_desk) -> None:
    """The ticket said NO ANSWER (`Order sent, no answer yet`); the REJECTED that
    follows (TWS never had it) is news, and toasted."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.5))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            desk.app.clear_notifications()
            await unanswered(desk, pilot, fake, "lost")
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.REJECTED)
            await until(pilot, "the REJECTED read", lambda: rejected_in_log(desk, coid))
            await after_a_while(desk, pilot)
            titles = [t for t, _ in errors(desk)]
            assert titles.count("Order sent, no answer yet") == 1, titles
            assert titles.count("Order rejected") == 1, titles
            [message] = [m for t, m in errors(desk) if t == "Order rejected"]
            assert "it never reached the venue" in message
            await desk.session.close()


async def test_a_tickets_order_rejected_after_it_was_taken_and_a_refused_modify(
    make_desk,
) -> None:
    """An order the ticket sent and TWS took: a modify TWS refuses (201) is one toast,
    `Modify failed`; a REJECTED of the order read later (a venue that rejects after
    acknowledging) is toasted, the ticket having said `sent`."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await ib_ready(desk, pilot, fake)
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            ticket.query_one("#t-limit_price", Input).value = "148.20"
            await type_into(pilot, "5")
            await pilot.press("f9")
            await until(pilot, "sent", lambda: said(ticket, "status").startswith("sent "))
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.NEW)
            desk.app.clear_notifications()

            await pilot.press("escape", "3", "home")
            assert desk.app.screen.query_one(Blotter).selected_order() == coid
            await pilot.press("m")
            await pilot.pause()
            screen = desk.app.screen
            assert isinstance(screen, ModifyScreen)
            screen.query_one("#m-limit_price", Input).value = "148.10"
            fake.reject_next_order(201, "Order rejected - reason:Modify not allowed now")
            await pilot.press("enter")
            await until(pilot, "the modify's answer", lambda: bool(errors(desk)))
            await after_a_while(desk, pilot)
            [(title, message)] = errors(desk)
            assert title == "Modify failed"
            assert "Modify not allowed now" in message

            desk.app.clear_notifications()
            late = OrderUpdate(client_order_id=coid, status=OrderStatus.REJECTED, reason="late")
            source = f"ib/{fake.account}"
            bus = desk.session.bus
            await bus.publish(OrderUpdateEvent.create(source, late, ts=desk.clock.ns()))
            await until(pilot, "the late REJECTED read", lambda: rejected_in_log(desk, coid))
            await after_a_while(desk, pilot)
            [(title, message)] = errors(desk)
            assert title == "Order rejected"
            assert "late" in message
            await desk.session.close()


# -- the model's rule, in whatever order things arrive --------------------------------

NOW_S = 1_767_364_200.0
STREAM = "silvertine:exec:ib:DU1"
# Per order: the ticket's answer to its send (`said`: refused, said in the ticket's own
# toast; `sent`; `no_answer`), or `elsewhere` (another desk's order: no send here);
# and whether its REJECTED is read while the send is on its way or after the answer.
ORDERS = st.lists(
    st.tuples(
        st.sampled_from(["said", "sent", "no_answer", "elsewhere"]),
        st.sampled_from(["during", "after"]),
    ),
    min_size=1,
    max_size=6,
)


def rejected_entry(n: int, coid: str) -> BusEntry:
    update = OrderUpdate(client_order_id=coid, status=OrderStatus.REJECTED, reason=f"why #{n}.")
    event = OrderUpdateEvent.create("ib/DU1", update, ts=int(NOW_S * 1e9))
    return BusEntry(STREAM, f"{int(NOW_S * 1000)}-{n}", event)


@given(orders=ORDERS, data=st.data())
def test_each_rejection_is_said_once_whatever_order_it_comes_in(
    orders: list[tuple[str, str]], data: st.DataObject
) -> None:
    """Each REJECTED is one toast: the ticket's when its answer to the send said the
    refusal, else the model's `Order rejected`; never both, never none, whether it is
    read while the order is on its way or after the answer, the orders' steps
    interleaved in any order."""
    model = FeedModel(prefix="silvertine", clock=lambda: NOW_S)
    queues: dict[int, list[str]] = {}
    for n, (answer, read) in enumerate(orders):
        if answer == "elsewhere":
            queues[n] = ["read"]
        elif read == "during":
            queues[n] = ["send", "read", "answer"]
        else:
            queues[n] = ["send", "answer", "read"]
    ticket_toasts = dict.fromkeys(queues, 0)
    while any(queues.values()):
        n = data.draw(st.sampled_from([k for k, q in queues.items() if q]))
        step = queues[n].pop(0)
        coid = f"st{n:018d}"
        if step == "send":
            model.placing_order(coid)
        elif step == "answer":
            said = orders[n][0] == "said"
            model.placed(coid, rejection_said=said)
            ticket_toasts[n] += said
        else:
            model.ingest(rejected_entry(n, coid))
    rejected = [notice for notice in model.notices if notice.title == "Order rejected"]
    for n, (answer, _) in enumerate(orders):
        toasted = [notice for notice in rejected if f"why #{n}." in notice.message]
        assert len(toasted) + ticket_toasts[n] == 1, (orders, n)
        assert ticket_toasts[n] == (answer == "said")
    assert not model.placing  # nothing held once every answer is in
