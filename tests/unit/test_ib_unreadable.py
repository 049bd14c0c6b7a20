"""A message from TWS that ib_async cannot read: its decoder logs "Error handling
fields" to its own logger and drops the message. The adapter counts it
(`error:unreadable`), logs it (`ib.unreadable`), says it in the desk's Log and in the
health pane (`notice:unreadable`), and, when the message could have been an order's
report, an execution or a position, reads TWS's orders and executions (and positions)
again, so a fill lost that way comes back, journaled once.

The chaos drill: an execDetails whose shares read `2.0x` on a real fill left the order
FILLED 4 of 6 on the desk and the position 14 where TWS held 16, said 10 s later as a
generic position mismatch, mended only by the next reconnect. Against the fake TWS,
with the real ib_async client reading a frame TWS sent unreadable."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.ib import codes
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import EventBase, LogLevel, PositionEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, fills, shown, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync

S = OrderStatus
L = ConnectionState
EXEC_DETAILS = 11
ORDER_STATUS = 3
SHARES = 19  # an execDetails' shares, in the frame (0: the message id)
FILLED = 3  # an orderStatus' filled quantity
POSITION = 61
QUANTITY = 14  # a position's quantity


def held(events: list[EventBase]) -> Decimal | None:
    """The last position of AAPL the broker journaled."""
    found = [
        e.payload.quantity
        for e in events
        if isinstance(e, PositionEvent) and e.payload.instrument == "AAPL.SMART"
    ]
    return found[-1] if found else None


def unreadable(d: Desk) -> int:
    return d.broker.health_state.errors["unreadable"]


def notice(d: Desk) -> str:
    return str(d.broker.health_state.extra.get("notice:unreadable", ""))


async def reread_done(d: Desk) -> None:
    """Until the adapter has read TWS again after the unreadable message."""
    await d.wait(lambda: "read again" in notice(d), "TWS read again")
    await d.broker.settle()


async def test_a_fill_tws_sent_unreadable_is_read_again_and_journaled_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeTws(positions={"AAPL": ("10", "150")}) as fake, desk(fake) as d:
        engine = await engine_for(d)
        coid = await d.broker.place(d.request(qty="6", limit="150.00"))
        [order] = fake.orders
        await fake.fill(order.order_id, "4")
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "the first fill")
        asked = len(fake.requests_of(m.REQ_EXECUTIONS))
        fake.garble_next(EXEC_DETAILS, SHARES, "2.0x")
        await fake.fill(order.order_id, "2")
        # TWS's answer to the adapter's re-read says the execution readably.
        await d.wait_journal(
            lambda ev: sum(f.quantity for f in fills(ev, coid)) == 6, "the lost fill"
        )
        await reread_done(d)
        assert len(fake.requests_of(m.REQ_EXECUTIONS)) == asked + 1
        events = await d.events()
        journaled = fills(events, coid)
        assert [f.quantity for f in journaled] == [Decimal(4), Decimal(2)]
        assert len({f.exec_id for f in journaled}) == 2
        assert journaled[1].fee == Decimal(1)  # its commission report was read
        assert shown(events, coid).status is S.FILLED
        assert shown(events, coid).filled_qty == 6
        await sync(engine, d.bus)
        assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 16
        assert fake.positions[265598].quantity == 16
        # Counted, shown in words, said in the desk's Log, logged by Silvertine.
        assert unreadable(d) == 1
        text = notice(d)
        assert "1 message from TWS could not be read" in text
        assert "an execution (a fill)" in text
        assert "2.0x" in text
        assert "1 missed fill journaled" in text, text
        said = await d.said_in_log(LogLevel.WARNING)
        assert any("could not read" in line and "execution" in line for line in said), said
        [record] = [r for r in caplog.records if r.getMessage() == "ib.unreadable"]
        assert record.__dict__["broker"] == d.broker.source
        assert record.__dict__["msg_id"] == "11"
        assert "2.0x" in record.__dict__["error"]
        # ib_async still says it in its own log, as ever, from its own code.
        [said_by_ib] = [r for r in caplog.records if "Error handling fields" in r.getMessage()]
        assert (said_by_ib.name, said_by_ib.filename) == ("ib_async.Decoder", "decoder.py")
        assert said_by_ib.__dict__["broker"] == d.broker.source
        health = (await d.health())[-1].metrics
        assert health["error:unreadable"] == 1
        assert health["notice:unreadable"] == text
        # Exactly once: a reconnect's catch-up replays the day's executions.
        connects = fake.connects
        await fake.drop_connections()
        await fake.wait_for(lambda: fake.connects == connects + 1, timeout=5)
        await d.wait_live()
        await d.broker.settle()
        assert len(fills(await d.events(), coid)) == 2
        await sync(engine, d.bus)
        assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 16


async def test_an_order_status_tws_sent_unreadable_is_read_again() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="5", limit="150.00"))
        [order] = fake.orders
        await d.wait_journal(lambda ev: S.NEW in statuses(ev, coid), "NEW")
        fake.garble_next(ORDER_STATUS, FILLED, "notanumber")
        await fake.fill(order.order_id, "2")
        await d.wait_journal(
            lambda ev: S.PARTIALLY_FILLED in statuses(ev, coid), "the status read again"
        )
        await reread_done(d)
        events = await d.events()
        assert [f.quantity for f in fills(events, coid)] == [Decimal(2)]
        order_view = shown(events, coid)
        assert (order_view.status, order_view.filled_qty) == (S.PARTIALLY_FILLED, 2)
        assert unreadable(d) == 1
        assert "an order status" in notice(d)
        assert "notanumber" in notice(d)


async def test_a_position_tws_sent_unreadable_is_read_again() -> None:
    async with FakeTws(positions={"AAPL": ("10", "150")}) as fake, desk(fake) as d:
        await d.broker.settle()
        coid = await d.broker.place(d.request(qty="3", limit="150.00"))
        [order] = fake.orders
        fake.garble_next(POSITION, QUANTITY, "13 shares")
        await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: held(ev) == 13, "TWS's position read again")
        await reread_done(d)
        assert [f.quantity for f in fills(await d.events(), coid)] == [Decimal(3)]
        assert "a position" in notice(d)
        assert fake.requests_of(m.REQ_POSITIONS)[-1][0] == str(m.REQ_POSITIONS)
        assert len(fake.requests_of(m.REQ_POSITIONS)) == 2  # the connect's, the re-read's


async def test_ib_async_logging_turned_down_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`log.levels` may set ib_async's loggers to CRITICAL: the decoder's line is then
    never written, and the desk still hears that a message was lost."""
    ib_log = logging.getLogger("ib_async")
    level = ib_log.level
    ib_log.setLevel(logging.CRITICAL)
    try:
        async with FakeTws() as fake, desk(fake) as d:
            await fake.send_frame([999, 1])
            await d.wait(lambda: unreadable(d) == 1, "counted")
            assert not any("Error handling fields" in r.getMessage() for r in caplog.records)
    finally:
        ib_log.setLevel(level)


async def test_a_message_of_a_kind_ib_async_does_not_know_is_counted_not_read_again() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.settle()
        asked = len(fake.requests_of(m.REQ_EXECUTIONS))
        await fake.send_frame([999, 1, "what is this"])
        await d.wait(lambda: unreadable(d) == 1, "counted")
        await d.broker.settle()
        text = notice(d)
        assert "a message of a kind ib_async does not know (id 999)" in text
        assert "nothing to read again" in text
        assert len(fake.requests_of(m.REQ_EXECUTIONS)) == asked
        assert d.broker.state is L.LIVE
        health = (await d.health())[-1].metrics
        assert health["error:unreadable"] == 1


async def test_a_message_whose_kind_cannot_be_read_makes_the_desk_read_tws_again() -> None:
    """A message id that is no number: the message could have been any, a fill
    among them."""
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.settle()
        asked = len(fake.requests_of(m.REQ_EXECUTIONS))
        await fake.send_frame(["abc", 1, 2])
        await reread_done(d)
        assert unreadable(d) == 1
        assert "'abc'" in notice(d)
        assert "nothing was missing" in notice(d)
        assert len(fake.requests_of(m.REQ_EXECUTIONS)) == asked + 1


async def test_an_unreadable_message_is_its_own_connections_only() -> None:
    """Each broker hears its own connection's decoder: two IB brokers in one process,
    one of whose TWS sends a message it cannot read."""
    async with FakeTws() as one, FakeTws() as two, desk(one) as first, desk(two) as second:
        await one.send_frame([999, 1])
        await first.wait(lambda: unreadable(first) == 1, "counted on the first")
        await second.broker.settle()
        assert unreadable(second) == 0
        assert "notice:unreadable" not in second.broker.health_state.extra


async def test_a_reread_tws_keeps_answering_unreadable_is_given_up_and_said() -> None:
    """TWS's answers to the re-read are unreadable too (every execDetails): the desk
    reads again a few times, then says it could not and what to do, never looping."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="150.00"))
        [order] = fake.orders
        await d.broker.settle()
        asked = len(fake.requests_of(m.REQ_EXECUTIONS))
        fake.garble_next(EXEC_DETAILS, SHARES, "2.0x", times=100)
        await fake.fill(order.order_id)
        await d.wait(lambda: "could not be read again" in notice(d), "given up", timeout=8)
        await d.broker.settle()
        assert len(fake.requests_of(m.REQ_EXECUTIONS)) - asked == codes.REREAD_ROUNDS
        assert unreadable(d) == 1 + codes.REREAD_ROUNDS
        said = await d.said_in_log(LogLevel.ERROR)
        assert any("check the order and position in TWS" in line for line in said), said
        # No round whose answer was unreadable too is said as done.
        assert not any("read again" in line for line in await d.said_in_log(LogLevel.INFO))
        assert fills(await d.events(), coid) == []


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(st.text(max_size=6), min_size=1, max_size=4),
    known=st.sets(st.integers(0, 120)),
)
def test_what_an_unreadable_message_was_is_always_said(fields: list[str], known: set[int]) -> None:
    """However ib_async words it, the adapter says what the message was, and reads TWS
    again unless it knows the message reports no order, fill or position."""
    for text in (f"Error handling fields: {fields}", f"Error for x({fields}):", "?"):
        what = codes.unreadable(text, known)
        assert what.said
        first = fields[0]
        number = first.isdecimal() and first.isascii()
        if text.startswith("Error handling") and number and int(first) in known:
            assert what.msg_id == first
            assert what.reread is (int(first) in codes.ORDER_REPORTS | codes.POSITION_REPORTS)
        elif text.startswith("Error handling") and number:
            assert not what.reread  # a kind ib_async does not know: not an order's
        else:
            assert what.reread
