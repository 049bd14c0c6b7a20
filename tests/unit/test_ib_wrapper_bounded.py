"""ib_async keeps every trade and fill of its session in its wrapper (`wrapper.trades`,
`permId2Trade`, `fills`), and every fill and log entry of an order in its trade, until
it connects again: a desk that ran all day held them all, and ib_async's log line of
each status of an order (`orderStatus: Trade(...)`, built whatever the log level)
carried every fill of the order. The IB adapter lets go of finished orders' trades and
fills beyond the newest `trades_kept` (`IBBroker._tidy_wrapper`) and keeps a trade's
own lists to their newest entries (`orders.trim_trade`); working orders keep
everything ib_async needs, and modify, fill and cancel as before. Against the fake TWS
with the real ib_async client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ib_async import Trade, TradeLogEntry

from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import FillCorrectionEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, shown, statuses

S = OrderStatus
KEPT = 5
TRADE_ENTRIES_KEPT = 10  # `orders.TRADE_ENTRIES_KEPT`: a trade's fills and log entries kept


def held(d: Desk) -> dict[str, int]:
    wrapper = d.broker.ib.wrapper
    return {
        "trades": len(wrapper.trades),
        "perm_ids": len(wrapper.permId2Trade),
        "fills": len(wrapper.fills),
    }


def order_id(d: Desk, coid: str) -> int:
    ids = d.broker.ids.get(coid)
    assert ids is not None
    return ids.order_id


async def test_finished_orders_leave_ib_async_beyond_the_kept_number() -> None:
    """60 finished orders (40 filled, 20 cancelled) and one working: ib_async holds the
    working order and at most 2 x `trades_kept` finished ones (the newest
    `trades_kept` after each tidy, which runs once `trades_kept` more came), with their
    fills; every fill is journaled once with its fee, and the working order still
    modifies, fills and cancels."""
    async with FakeTws() as fake, desk(fake) as d:
        d.broker.trades_kept = KEPT
        working = await d.broker.place(d.request(qty="5", limit="140.00"))
        for i in range(60):
            coid = await d.broker.place(d.request(qty="1", limit="149.50"))
            if i % 3 == 2:
                await d.broker.cancel(coid)
            else:
                await fake.fill(order_id(d, coid))
        await d.broker.settle()
        bound = 1 + 2 * KEPT
        assert max(held(d).values()) <= bound, held(d)
        finished = [t for t in d.broker.ib.wrapper.trades.values() if t.isDone()]
        assert 0 < len(finished) <= 2 * KEPT
        assert len(fills(await d.events())) == 40
        # The working order goes on as before: a modify, a partial fill, a cancel.
        await d.broker.modify(working, limit_price=Decimal("140.50"))
        await fake.fill(order_id(d, working), "2")
        await d.broker.settle()
        events = await d.events()
        assert shown(events, working).filled_qty == Decimal(2)
        await d.broker.cancel(working)
        events = await d.events()
        assert statuses(events, working)[-1] is S.CANCELED
        every = fills(events)
        assert len(every) == 41
        assert len({f.exec_id for f in every}) == 41
        assert all(f.fee is not None and f.fee > 0 for f in every)
        assert max(held(d).values()) <= bound, held(d)


async def test_a_catch_up_takes_completed_orders_in_again_and_they_go_again() -> None:
    """Each catch-up (a reconnect, a poll of other clients' orders) has ib_async take
    in every order TWS lists as completed today: let go of again, and nothing of them is
    journaled twice."""
    async with FakeTws() as fake, desk(fake) as d:
        d.broker.trades_kept = KEPT
        for _ in range(30):
            coid = await d.broker.place(d.request(qty="1", limit="149.50"))
            await fake.fill(order_id(d, coid))
        await d.broker.settle()
        journaled = len(await d.events())
        await d.broker._catch_up()
        await d.broker.settle()
        assert max(held(d).values()) <= 2 * KEPT, held(d)
        assert len(await d.events()) == journaled


async def test_a_late_correction_of_an_order_ib_async_let_go_of_is_journaled() -> None:
    """IB corrects an execution of an order finished long ago (hours later, at IB):
    ib_async no longer has its trade and raises no event; the adapter journals the
    correction all the same."""
    async with FakeTws() as fake, desk(fake) as d:
        d.broker.trades_kept = 2
        first = await d.broker.place(d.request(qty="3", limit="149.50"))
        await fake.fill(order_id(d, first))
        execution = fake.executions[-1]
        for _ in range(10):
            coid = await d.broker.place(d.request(qty="1", limit="149.50"))
            await fake.fill(order_id(d, coid))
        await d.broker.settle()
        perm_id = d.broker.ids.get(first).perm_id  # type: ignore[union-attr]
        assert perm_id not in d.broker.ib.wrapper.permId2Trade  # let go of
        new_id = await fake.correct_execution(execution, price="149.40")
        await d.broker.settle()
        events = await d.wait_journal(
            lambda es: any(isinstance(e, FillCorrectionEvent) for e in es), "the correction"
        )
        [correction] = [e.payload for e in events if isinstance(e, FillCorrectionEvent)]
        assert correction.fill.exec_id == new_id
        assert correction.fill.client_order_id == first
        assert correction.fill.price == Decimal("149.40")
        assert shown(events, first).avg_price == Decimal("149.40")


async def test_an_order_with_many_fills_keeps_its_trade_short_and_works_on() -> None:
    """300 partial fills of one order: ib_async's trade of it holds its newest fills
    and log entries only, so its log line of each status (the whole trade) stays as
    short as after a few fills; ib_async still knows each execution (a replay adds
    none twice), and the order modifies, fills and cancels as before."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="400", limit="149.50"))
        oid = order_id(d, coid)
        trade = d.broker._trade(coid)
        for _ in range(5):
            await fake.fill(oid, "1")
        await d.broker.settle()
        short = len(repr(trade))
        for _ in range(295):
            await fake.fill(oid, "1")
        await d.broker.settle()
        assert len(trade.fills) <= 2 * TRADE_ENTRIES_KEPT
        assert len(trade.log) <= 2 * TRADE_ENTRIES_KEPT
        assert len(repr(trade)) < 4 * short  # before: 300 fills and 600 log entries
        assert len(d.broker.ib.wrapper.fills) == 300  # a working order's: all kept
        await d.broker._catch_up()  # the day's executions replayed: none taken twice
        await d.broker.settle()
        assert len(d.broker.ib.wrapper.fills) == 300
        assert len(trade.fills) <= 2 * TRADE_ENTRIES_KEPT
        await d.broker.modify(coid, limit_price=Decimal("149.00"))
        await fake.fill(oid, "10")
        await d.broker.settle()
        await d.broker.cancel(coid)
        events = await d.events()
        order = shown(events, coid)
        assert order.filled_qty == Decimal(310)
        assert order.status is S.CANCELED
        assert len(fills(events, coid)) == 301


def entry(status: str, message: str = "", code: int = 0) -> TradeLogEntry:
    return TradeLogEntry(datetime.now(UTC), status, message, code)


def test_trimming_keeps_what_the_undoing_of_ib_async_guesses_looks_back_for() -> None:
    """A long run of warnings (399, ib_async's `ValidationError`) after the order
    worked: trimmed, the log still holds the status TWS said last and that the order
    worked, so a warning's status and an error's guess are still undone to it."""
    from silvertine_tui.brokers.ib import orders

    assert orders.TRADE_ENTRIES_KEPT == TRADE_ENTRIES_KEPT
    trim_trade, undo_guess = orders.trim_trade, orders.undo_guess
    undo_warning = orders.undo_warning
    trade = Trade(log=[entry("PendingSubmit"), entry("Submitted")])
    trade.log += [entry("ValidationError", f"Warning 399 #{i}", 399) for i in range(60)]
    trade.orderStatus.status = "ValidationError"
    trim_trade(trade)
    assert len(trade.log) <= TRADE_ENTRIES_KEPT + 3
    assert undo_warning(trade)
    assert trade.orderStatus.status == "Submitted"
    trade.log.append(entry("Cancelled", "Error 201, reqId 7: refused modify", 201))
    trade.orderStatus.status = "Cancelled"
    trim_trade(trade)
    undo_guess(trade, working_only=True)
    assert trade.orderStatus.status == "Submitted"
