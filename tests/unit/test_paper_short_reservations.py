"""With `short_selling` on, working sells hold the position in time priority and the
short rest of each locks cash; both follow the position as it changes, and a restart
from the journal locks exactly what the live venue locked.

What the trader sees is the locked and available cash of the quote currency: the
buying power left for new orders.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, InsufficientFunds
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.venue import PaperVenue
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Side
from tests.unit.test_paper_broker import eth_book, order, paper_config
from tests.unit.test_paper_venue import BUY, KEY, SELL, book, make_venue, req

T0 = 1_767_625_200_000_000_000
RATE = D("1.001")  # 1 + max(maker 8 bps, taker 10 bps)
NO_LATENCY = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}


def test_a_resting_sell_locks_cash_once_another_sell_took_the_position() -> None:
    """Long 1, a sell of 1 rests at 2100 and holds it. The trader sells the 1 at the
    market: the resting sell is now a short sell and locks its margin, 2100 * 1.001.
    It used to go on holding the position sold, with no cash locked: the buying
    power shown was 2,102.10 too high."""
    venue = make_venue(short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    venue.submit(req(BUY, "1"), T0)
    resting = req(SELL, "1", "2100")
    venue.submit(resting, T0)
    assert venue.account.locked.get("USDT", 0) == 0
    venue.submit(req(SELL, "1"), T0)
    assert venue.account.position_qty(KEY) == 0
    held = venue.order(resting.client_order_id)
    assert held is not None
    assert (held.reserved_qty, held.reserved_cash) == (0, D("2100") * RATE)
    assert venue.account.locked_qty[KEY] == 0
    assert venue.account.cash_state("USDT").locked == D("2100") * RATE


def test_a_short_sell_releases_its_cash_once_it_is_covered_by_the_position() -> None:
    """Flat, a sell of 1 rests at 2100 and locks its margin. The trader buys 1: the
    sell is covered by the position now, and unlocks the cash (it used to keep it
    locked, understating the buying power by 2,102.10)."""
    venue = make_venue(short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    resting = req(SELL, "1", "2100")
    venue.submit(resting, T0)
    assert venue.account.cash_state("USDT").locked == D("2100") * RATE
    venue.submit(req(BUY, "1"), T0)
    held = venue.order(resting.client_order_id)
    assert held is not None
    assert (held.reserved_qty, held.reserved_cash) == (1, 0)
    assert venue.account.cash_state("USDT").locked == 0


def test_a_sell_moved_behind_another_is_checked_where_it_goes() -> None:
    """Cash 5,000, long 1: sell A (1 at 3,000) holds it, sell B (1 at 2,100) is short.
    The trader moves A's price: A goes behind B, B takes the position and A is short
    now, 3,004 of margin with 2,997 free. Checked at its old place the replace passed,
    and the short part moved to A unchecked: 3,004 locked, available -7. It is refused
    and both orders stay as they were (terms, places, what they lock)."""
    venue = make_venue(cash="5000", short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    venue.submit(req(BUY, "1"), T0)
    a, b = req(SELL, "1", "3000"), req(SELL, "1", "2100")
    venue.submit(a, T0)
    venue.submit(b, T0)
    before = venue.account.cash_state("USDT")
    held = {o.client_order_id: venue.order(o.client_order_id) for o in (a, b)}
    was = {k: (o.seq, o.reserved_qty, o.reserved_cash) for k, o in held.items() if o}
    with pytest.raises(InsufficientFunds, match="need 3,004"):
        venue.replace(a.client_order_id, T0, limit_price=D("3001"))
    after = venue.account.cash_state("USDT")
    assert (after.locked, after.available) == (before.locked, before.available)
    assert after.available >= 0
    now = {k: (o.seq, o.reserved_qty, o.reserved_cash) for k, o in held.items() if o}
    assert now == was
    moved = venue.order(a.client_order_id)
    assert moved is not None
    assert moved.limit_price == D("3000")


async def test_a_restart_locks_what_the_live_venue_locked() -> None:
    """Long 1: sell A (1 at 2100) holds it, sell B (1 at 2100) is short and locks
    2,102.10. The trader cancels A: B is covered by the 1 now and unlocks its cash,
    live and after a restart (live kept the cash locked, the restart did not: the
    buying power jumped by 2,102.10 on a restart)."""
    config = paper_config(latency=NO_LATENCY, checks={"short_selling": True})
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(config, bus)
    await first.connect()
    await first.on_market_data(eth_book([(D("1990"), "5")], [(D("2010"), "5")]))
    await first.place(order("M", Side.BUY, "1"))
    await first.place(order("A", Side.SELL, "1", D("2100")))
    await first.place(order("B", Side.SELL, "1", D("2100")))
    assert first.venue.account.cash_state("USDT").locked == D("2100") * RATE
    await first.cancel("A")
    await first.settle()
    live = (first.venue.account.cash_state("USDT"), dict(first.venue.account.locked_qty))
    assert live[0].locked == 0
    assert live[1] == {KEY: 1}
    [usdt] = [b for b in await first.balances() if b.currency == "USDT"]
    assert (usdt.locked, usdt.available) == (0, usdt.total)
    await first.close()

    second = PaperBroker(config, bus)
    await second.connect()
    restored = (second.venue.account.cash_state("USDT"), dict(second.venue.account.locked_qty))
    assert restored == live
    await second.close()
    await bus.close()


def test_a_sell_that_trades_first_leaves_room_for_the_sells_it_passes() -> None:
    """Long 0.5 with cash 5,000: a sell of 1 rests at 5,000 (it holds the 0.5, the rest
    short: 2,502.50 locked). A sell of 0.5 at 1,990 trades at once and takes the 0.5:
    the resting sell is then short all of 1 and locked 5,005 unchecked, available
    -7.50, every later order refused. The second sell is refused at entry."""
    venue = make_venue(cash="5000", short_selling=True)
    venue.set_book(book([("1999.5", "3")], [("2000.5", "3")]), T0)
    venue.submit(req(BUY, "0.5", "2000.5"), T0)
    venue.submit(req(SELL, "1", "5000"), T0)
    before = venue.account.cash_state("USDT")
    with pytest.raises(InsufficientFunds):
        venue.submit(req(SELL, "0.5", "1990"), T0)
    after = venue.account.cash_state("USDT")
    assert (after.total, after.locked) == (before.total, before.locked)
    assert after.available >= 0


PRICES = ["1990", "1999.5", "2000.5", "2010", "2100", "2500", "3000", "3001"]
QTYS = ["0.5", "1", "2"]
ACTION = st.one_of(
    st.tuples(
        st.just("submit"),
        st.sampled_from([BUY, SELL]),
        st.sampled_from(QTYS),
        st.sampled_from([*PRICES, None]),
    ),
    st.tuples(
        st.just("replace"),
        st.integers(0, 20),
        st.sampled_from([*QTYS, None]),
        st.sampled_from([*PRICES, None]),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("book"), st.sampled_from(["1990", "1999.5", "2005", "2099"])),
)


def venue_state(venue: PaperVenue) -> tuple[object, ...]:
    account = venue.account
    orders = {
        cid: (o.quantity, o.limit_price, o.seq, o.reserved_cash, o.reserved_qty, o.status)
        for cid, o in venue.orders.items()
    }
    return (dict(account.cash), dict(account.locked), dict(account.locked_qty), orders)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["2500", "5000", "7000"]), st.lists(ACTION, max_size=14))
def test_short_selling_never_locks_more_than_the_account_has(
    cash: str, actions: list[tuple[Any, ...]]
) -> None:
    """Any buys, sells, replaces, cancels and book moves with short selling on: after
    each one taken, available cash is never negative; one refused changes nothing."""
    venue = make_venue(cash=cash, short_selling=True)
    venue.set_book(book([("1999.5", "3")], [("2000.5", "3")]), T0)
    sent: list[str] = []
    for n, action in enumerate(actions):
        now = T0 + n + 1
        before = venue_state(venue)
        try:
            if action[0] == "submit":
                _, side, qty, price = action
                request = req(side, qty, price)
                sent.append(request.client_order_id)
                venue.submit(request, now)
            elif action[0] in ("replace", "cancel") and sent:
                cid = sent[action[1] % len(sent)]
                held = venue.order(cid)
                if held is None or held.status.is_terminal:
                    continue
                if action[0] == "cancel":
                    venue.cancel(cid, now)
                else:
                    qty, price = action[2], action[3]
                    if qty is None and (price is None or held.limit_price is None):
                        continue
                    venue.replace(
                        cid,
                        now,
                        quantity=D(qty) if qty else None,
                        limit_price=D(price) if price and held.limit_price else None,
                    )
            elif action[0] == "book":
                bid = D(action[1])
                venue.set_book(book([(str(bid), "3")], [(str(bid + 1), "3")]), now)
        except BrokerError:
            refused = True
        else:
            refused = False
        if refused:
            assert venue_state(venue) == before, action
            continue
        assert venue.account.cash_state("USDT").available >= 0, action
