"""The desk's view of a resting buy that covers a paper short (the venue's side:
tests/unit/test_paper_cover_lock.py).

The balance the adapter publishes has the venue's buying power as its `available`,
which the Balances pane shows and the ticket judges a buy against. With a BUY 0.4 @
1,900 resting over a short of 0.4 at 1,990.00, it read -2,061.49 (the buy's whole
notional locked): the ticket then refused even a buy that only covers the short,
which the venue took. It reads what covering leaves now, and a buy the ticket passes
the venue takes.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import InsufficientFunds
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderType, Side, TimeInForce
from silvertine_tui.engine.projection import DeskProjection, project
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.events import BrokerProfile
from silvertine_tui.ui.fees import FeeRate
from silvertine_tui.ui.orders import Draft, TicketContext, check
from tests.unit.test_paper_broker import ETH, eth_book, order, paper_config

NO_LATENCY = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}
RATE = FeeRate(D("0.001"))  # the venue's higher rate (taker 10 bps)


async def short_desk(cash: str) -> tuple[MemoryBus, PaperBroker]:
    """Flat with `cash` USDT, bid 1,990 / ask 2,010, then short 0.4 ETH at 1,990.00."""
    config = paper_config(
        latency=NO_LATENCY,
        checks={"short_selling": True},
        starting_cash={"USDT": cash},
    )
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(config, bus)
    await broker.connect()
    await broker.on_market_data(eth_book([(D("1990"), "5")], [(D("2010"), "5")]))
    await broker.place(order("S", Side.SELL, "0.4"))
    await broker.settle()
    return bus, broker


async def desk_of(bus: MemoryBus, broker: PaperBroker) -> TicketContext:
    """The desk built from the journal, knowing the broker's instruments and
    capabilities (its profile, as the engine applies it)."""
    view: DeskProjection = await project(bus, [("paper", "main")], snapshots=False)
    view.apply_profile(
        BrokerProfile(
            broker="paper",
            capabilities=broker.capabilities,
            instruments=tuple(broker.venue.instruments.values()),
        )
    )
    return TicketContext(view, RiskGate(RiskConfig()))


def ticket(qty: str, limit: str) -> Draft:
    return Draft(
        instrument=ETH,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=qty,
        limit_price=limit,
        tif=TimeInForce.GTC,
        account="paper/main",
    )


async def test_balances_read_what_a_resting_cover_leaves() -> None:
    """Short 0.4 at 1,990.00 (cost 796.00, fee 0.796): 1,000 USDT leave 1,000 - 0.796
    - 796.00 = 203.204. A BUY 0.4 @ 1,900 rests: it covers with what the short gives
    back and locks nothing: Balances still reads 203.204, and the ticket passes a buy
    of 0.1 more at 1,900 (190.19 with its fee), which the venue takes."""
    bus, broker = await short_desk("1000")
    await broker.place(order("C", Side.BUY, "0.4", D("1900")))
    await broker.settle()
    desk = await desk_of(bus, broker)
    usdt = desk.projection.balances[("paper", "main", "USDT")]
    venue = broker.venue.account
    assert usdt.available == venue.buying_power("USDT") == D("203.204")
    assert usdt.locked == 0
    checked = check(
        ticket("0.1", "1900"),
        desk,
        client_order_id="st000000000000000001",
        fee_rate=lambda broker, instrument: RATE,
    )
    assert [p.rule for p in checked.problems] == []
    await broker.place(order("D", Side.BUY, "0.1", D("1900")))
    await broker.close()
    await bus.close()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    cash=st.sampled_from(["1000", "2500"]),
    lots=st.integers(1, 150),  # of 0.01
    below=st.integers(0, 15),  # the limit, this many 5.00 steps under the ask
)
def test_a_buy_the_ticket_passes_over_a_short_the_venue_takes(
    cash: str, lots: int, below: int
) -> None:
    """Short 0.4, no buy working: a buy of any size, covering the short and going
    long, at or under the ask. The ticket judges the part beyond the short against
    the published available; the venue locks what covering does not give back. What
    the ticket passes, the venue takes, and buying power stays at 0 or more (one the
    ticket refuses, the venue may take: what covering gives back beyond the part that
    covers pays for some of the rest)."""

    async def run() -> None:
        bus, broker = await short_desk(cash)
        desk = await desk_of(bus, broker)
        qty = str(D(lots) / 100)
        limit = str(D("2010") - 5 * below)
        checked = check(
            ticket(qty, limit),
            desk,
            client_order_id="st000000000000000002",
            fee_rate=lambda broker, instrument: RATE,
        )
        if checked.ok:
            await broker.place(order("B", Side.BUY, qty, D(limit)))
            await broker.settle()
            assert broker.venue.account.buying_power("USDT") >= 0
        else:
            assert [p.rule for p in checked.problems] == ["buying_power"]
            with contextlib.suppress(InsufficientFunds):
                await broker.place(order("B", Side.BUY, qty, D(limit)))
            await broker.settle()
            assert broker.venue.account.buying_power("USDT") >= 0
        await broker.close()
        await bus.close()

    asyncio.run(run())
