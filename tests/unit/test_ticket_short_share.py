"""The ticket and the modify dialog judge a paper buy over a short as the venue does
(docs/paper-simulator.md, "Checks", rule 5; the venue's side: test_paper_cover_lock.py).

The venue's working buys share what covering the short gives back, in time priority:
a new buy (or one changed: it goes to the back) gets what the buys ahead of it leave.
The ticket counted `min(short, qty)` as covered and judged only the rest: with a short
of 0.4 and a BUY 0.8 @ 1,900 resting, a BUY 0.4 @ 1,900 passed and the venue refused
it (`need 690.28 USDT, available 203.20`). A market buy covers first, and the resting
buys then lock what it took of the give-back. With leverage a buy's fee comes out of
equity, which the leverage multiplies: the venue asks `leverage x fee`, the ticket
asked it once. And the modify dialog never applied the `short_margin` rule: a working
sell grown further into a short went out and the venue refused it.

Everything here drives the real paper broker through the bus; the desk is the
projection of its journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import InsufficientFunds, OrderRejected
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Order, OrderRequest, OrderType, Side
from silvertine_tui.domain.errors import OrderValidationError
from silvertine_tui.engine.projection import DeskProjection, project
from silvertine_tui.engine.risk import RiskGate, modified_request
from silvertine_tui.events import BrokerProfile
from silvertine_tui.ui.fees import FeeRate
from silvertine_tui.ui.orders import TicketContext, change_problems, check
from tests.unit.test_paper_broker import eth_book, order, paper_config
from tests.unit.test_paper_cover_lock_desk import ticket

NO_LATENCY = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}
RATE = FeeRate(D("0.001"))  # the venue's higher rate (taker 10 bps, maker 8)
KEY = ("paper", "main", "USDT")
TICK_PLACES = 2  # ETHUSDT.PAPER's tick, 0.01


def fee_rate(broker: str, instrument: str) -> FeeRate:
    return RATE


async def paper(cash: str, leverage: str = "1") -> tuple[MemoryBus, PaperBroker]:
    """Flat with `cash` USDT, shorts allowed, bid 1,990 / ask 2,010."""
    config = paper_config(
        latency=NO_LATENCY,
        checks={"short_selling": True, "leverage": leverage},
        starting_cash={"USDT": cash},
    )
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(config, bus)
    await broker.connect()
    await broker.on_market_data(eth_book([(D("1990"), "50")], [(D("2010"), "50")]))
    return bus, broker


async def desk_of(bus: MemoryBus, broker: PaperBroker) -> TicketContext:
    view: DeskProjection = await project(bus, [("paper", "main")], snapshots=False)
    view.apply_profile(
        BrokerProfile(
            broker="paper",
            capabilities=broker.capabilities,
            instruments=tuple(broker.venue.instruments.values()),
        )
    )
    return TicketContext(view, RiskGate(RiskConfig()))


def funds_said(
    context: TicketContext, qty: str, limit: str | None, leverage: str = "1"
) -> list[str]:
    draft = ticket(qty, limit or "")
    if limit is None:
        draft.order_type = OrderType.MARKET
    coid = "st000000000000000009"
    if leverage == "1":  # what the ticket assumes when not told
        checked = check(draft, context, client_order_id=coid, fee_rate=fee_rate)
    else:
        checked = check(
            draft,
            context,
            client_order_id=coid,
            fee_rate=fee_rate,
            leverage=lambda broker: D(leverage),
        )
    return [str(p) for p in checked.problems if p.rule == "buying_power"]


def bp(broker: PaperBroker) -> D:
    return broker.venue.account.buying_power("USDT")


async def test_the_working_buys_take_their_share_of_the_give_back_first() -> None:
    """Short 0.4 at 1,990.00 with 1,000 USDT: buying power 203.204. A BUY 0.8 @ 1,900
    rests, covering with 1,521.52 of the 1,592.00 covering gives back, and locks
    nothing. A BUY 0.4 @ 1,900 needs 760.76 with its fee; 70.48 is left of the give-
    back, so it needs 690.28 more: the ticket says so (it passed it), as the venue
    refuses it. The most it names goes out and the venue takes it."""
    bus, broker = await paper("1000")
    await broker.place(order("S", Side.SELL, "0.4"))
    await broker.place(order("C", Side.BUY, "0.8", D("1900")))
    await broker.settle()
    desk = await desk_of(bus, broker)
    assert desk.projection.balances[KEY].available == bp(broker) == D("203.204")
    assert funds_said(desk, "0.4", "1900") == [
        "Qty: need 690.28 USDT (notional 760.00 + fee ~0.76, less 70.48 of what covering "
        "the short gives back, after the working buys' share), available 203.204 USDT: "
        "at most 0.1439 at limit price [buying_power]"
    ]
    with pytest.raises(InsufficientFunds, match=re.escape("need 690.28 USDT, available 203.20")):
        await broker.place(order("D", Side.BUY, "0.4", D("1900")))
    assert funds_said(desk, "0.1439", "1900") == []
    await broker.place(order("E", Side.BUY, "0.1439", D("1900")))
    assert D(0) <= bp(broker) < D("0.2")
    await broker.close()
    await bus.close()


async def test_a_market_buy_covers_first_and_the_resting_buys_lock_more() -> None:
    """The same short and resting BUY 0.8 @ 1,900; a MARKET BUY 0.2 covers half the
    short at the ask (2,010: 402.00 + 0.40), which gives back 796.00; the resting buy
    then has only 796.00 to share and locks 725.52 more: 331.92 in all, over the
    203.204 there is. The ticket counted the 0.2 as covered and passed it."""
    bus, broker = await paper("1000")
    await broker.place(order("S", Side.SELL, "0.4"))
    await broker.place(order("C", Side.BUY, "0.8", D("1900")))
    await broker.settle()
    desk = await desk_of(bus, broker)
    [said] = funds_said(desk, "0.2", None)
    assert said.startswith("Qty: need 3"), said
    with pytest.raises(InsufficientFunds, match=re.escape("need 331.92 USDT, available 203.20")):
        await broker.place(order("M", Side.BUY, "0.2"))
    await broker.close()
    await bus.close()


async def test_with_leverage_the_fee_counts_leverage_times() -> None:
    """Leverage 3, 1,000 USDT, flat: buying power 3,000. A BUY 1.496 @ 2,000 needs
    2,992.00 + 3 x 2.992 = 3,000.976 (the fee comes out of equity): the ticket asked
    the fee once (2,994.99) and passed it; the venue refuses it."""
    bus, broker = await paper("1000", leverage="3")
    desk = await desk_of(bus, broker)
    assert desk.projection.balances[KEY].available == D(3000)
    assert funds_said(desk, "1.496", "2000", leverage="3") == [
        "Qty: need 3,000.98 USDT (notional 2,992.00 + 3 x fee ~2.99), available "
        "3,000.00 USDT: at most 1.4955 at limit price [buying_power]"
    ]
    with pytest.raises(
        InsufficientFunds, match=re.escape("need 3,000.98 USDT, available 3,000.00")
    ):
        await broker.place(order("L", Side.BUY, "1.496", D("2000")))
    assert funds_said(desk, "1.4955", "2000", leverage="3") == []
    await broker.place(order("L2", Side.BUY, "1.4955", D("2000")))
    assert D(0) <= bp(broker) < D(3)
    await broker.close()
    await bus.close()


def working(context: TicketContext, coid: str) -> Order:
    view = context.projection.order(coid)
    assert view is not None
    return view.order


def change_said(
    context: TicketContext,
    coid: str,
    leverage: str = "1",
    *,
    quantity: D | None = None,
    limit_price: D | None = None,
) -> list[str]:
    held = working(context, coid)
    changed: OrderRequest = modified_request(held, quantity=quantity, limit_price=limit_price)
    given = {"quantity": quantity, "limit_price": limit_price}
    touched = [name for name, value in given.items() if value is not None]
    if leverage == "1":  # what the dialog assumes when not told
        found = change_problems(held, changed, touched, context, fee_rate=fee_rate)
    else:
        found = change_problems(
            held, changed, touched, context, fee_rate=fee_rate, leverage=lambda b: D(leverage)
        )
    return [str(p) for p in found]


async def test_a_sell_grown_into_a_short_is_judged_in_the_dialog() -> None:
    """Flat, 1,000 USDT: a SELL 0.1 @ 2,100 rests, all of it short (it locks 210.21).
    Grown to 0.5 it would need 1,051.05 of margin, with the 210.21 it frees over the
    789.79 there is: the dialog refuses it (it sent it, and the venue refused it), and
    the most it names goes, which the venue takes."""
    bus, broker = await paper("1000")
    await broker.place(order("W", Side.SELL, "0.1", D("2100")))
    await broker.settle()
    desk = await desk_of(bus, broker)
    assert desk.projection.balances[KEY].available == D("789.79")
    assert change_said(desk, "W", quantity=D("0.5")) == [
        "Qty: short 0.5 (position 0) needs 1,051.05 USDT of margin (notional 1,050.00 + "
        "fee ~1.05), available 789.79 USDT + 210.21 the order holds: qty at most 0.4757 "
        "at limit price [short_margin]"
    ]
    with pytest.raises(InsufficientFunds):
        await broker.modify("W", quantity=D("0.5"))
    assert change_said(desk, "W", quantity=D("0.4757")) == []
    await broker.modify("W", quantity=D("0.4757"))
    assert D(0) <= bp(broker) < D("2.2")
    await broker.close()
    await bus.close()


async def test_a_buy_changed_over_a_short_shares_as_a_new_one() -> None:
    """Short 0.4 at 1,990.00, BUY 0.8 @ 1,900 and BUY 0.1 @ 1,900 resting: the first
    takes 1,521.52 of the 1,592.00 covering gives back, the second the 70.48 left and
    locks the rest of its 190.19, 119.71 (buying power 203.204 - 119.71 = 83.494).
    Changed to 0.4 it goes to the back and needs 760.76 - 70.48 = 690.28, over the
    83.494 there is and the 119.71 it frees: the venue refuses it (the dialog sent it,
    counting 0.4 as covered)."""
    bus, broker = await paper("1000")
    await broker.place(order("S", Side.SELL, "0.4"))
    await broker.place(order("C", Side.BUY, "0.8", D("1900")))
    await broker.place(order("B", Side.BUY, "0.1", D("1900")))
    await broker.settle()
    desk = await desk_of(bus, broker)
    assert desk.projection.balances[KEY].available == bp(broker) == D("83.494")
    assert change_said(desk, "B", quantity=D("0.4")) == [
        "Qty: need 690.28 USDT (notional 760.00 + fee ~0.76, less 70.48 of what covering "
        "the short gives back, after the working buys' share), available 83.494 USDT + "
        "119.71 the order holds: qty at most 0.1439 at limit price [buying_power]"
    ]
    with pytest.raises(InsufficientFunds):
        await broker.modify("B", quantity=D("0.4"))
    assert change_said(desk, "B", quantity=D("0.1439")) == []
    await broker.modify("B", quantity=D("0.1439"))
    assert D(0) <= bp(broker) < D("0.2")
    await broker.close()
    await bus.close()


# What the ticket may refuse that the venue takes: it judges with the short's average
# (the desk's, from its fills) widened by a unit of the venue's reported average's last
# place (the tick's + 4: docs/paper-simulator.md, "The account"), either way.
def rounding(leverage: D, units: D) -> D:
    return 4 * (1 + leverage) * units * D(1).scaleb(-(TICK_PLACES + 4))


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    cash=st.sampled_from(["1000", "2500"]),
    leverage=st.sampled_from(["1", "2", "3"]),
    short=st.integers(1, 60),  # lots of 0.01 sold at 1,990
    more=st.integers(0, 30),  # and at 1,973.37, after the market moved down
    covered=st.integers(0, 40),  # bought back at the ask, before the buys rest
    buys=st.lists(st.tuples(st.integers(1, 80), st.integers(0, 40)), max_size=3),
    floor=st.one_of(st.none(), st.integers(1, 20)),  # a SELL 0.05 this many 5.00 over the bid
    qty=st.integers(1, 150),  # the ticket's buy, lots of 0.01
    below=st.integers(-2, 40),  # at this many 5.00 under the ask
)
@example(
    cash="1000",
    leverage="1",
    short=40,
    more=0,
    covered=0,
    buys=[(80, 22)],
    floor=None,
    qty=40,
    below=22,
)  # the documented example
def test_the_ticket_passes_a_buy_exactly_when_the_venue_takes_it(
    cash: str,
    leverage: str,
    short: int,
    more: int,
    covered: int,
    buys: list[tuple[int, int]],
    floor: int | None,
    qty: int,
    below: int,
) -> None:
    """A short of any size and average (one or two sells, part bought back), working
    buys over it, maybe a sell that may add to it below its average, any leverage: a
    limit buy the ticket passes, the venue takes, and buying power stays at 0 or more;
    one the ticket refuses for funds, the venue refuses too, or takes with less than
    the average's rounding left; and the most the refusal names, the ticket passes and
    the venue takes."""

    async def run() -> None:
        bus, broker = await paper(cash, leverage)
        cent = D("0.01")
        with contextlib.suppress(InsufficientFunds):
            await broker.place(order("S1", Side.SELL, str(short * cent)))
        ask = D("2010")
        if more:
            await broker.on_market_data(eth_book([(D("1973.37"), "50")], [(D("1981"), "50")]))
            ask = D("1981")
            with contextlib.suppress(InsufficientFunds):
                await broker.place(order("S2", Side.SELL, str(more * cent)))
        if covered and covered < short + more:
            with contextlib.suppress(InsufficientFunds):
                await broker.place(order("P", Side.BUY, str(covered * cent)))
        for n, (lots, under) in enumerate(buys):
            with contextlib.suppress(InsufficientFunds):
                await broker.place(order(f"B{n}", Side.BUY, str(lots * cent), ask - 5 * under - 5))
        if floor is not None:
            bid = D("1973.37") if more else D("1990")
            with contextlib.suppress(InsufficientFunds):
                await broker.place(order("F", Side.SELL, "0.05", bid + 5 * floor))
        await broker.settle()
        desk = await desk_of(bus, broker)
        limit = ask - 5 * below
        said = funds_said(desk, str(qty * cent), str(limit), leverage)
        try:
            await broker.place(order("T", Side.BUY, str(qty * cent), limit))
            taken = True
        except InsufficientFunds:
            taken = False
        except (OrderRejected, OrderValidationError):
            taken = None  # refused for something else (a filter)
        left = bp(broker)
        assert left >= 0
        if taken is None:
            pass
        elif not said:
            assert taken, "the ticket passed a buy the venue refused"
        elif taken:
            units = (short + more) * cent
            assert left < rounding(D(leverage), units + D(4)), (said, left)
        else:
            # The most it names passes, and the venue takes it.
            [refusal] = said
            most = refusal.split("at most ")[1].split(" ")[0].replace(",", "")
            if D(most) > 0:
                assert funds_said(desk, most, str(limit), leverage) == [], refusal
                # (Refused for anything but funds, a minimum notional: not judged here.)
                with contextlib.suppress(OrderRejected, OrderValidationError):
                    try:
                        await broker.place(order("M", Side.BUY, most, limit))
                    except InsufficientFunds as exc:
                        raise AssertionError(f"{refusal}: {exc}") from exc
                assert bp(broker) >= 0
        await broker.close()
        await bus.close()

    asyncio.run(run())
