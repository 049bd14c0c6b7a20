"""The queue model's unknown queue positions, and the health slippage figure
(docs/paper-simulator.md, "Resting limits" and "Taking liquidity")."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers.paper import MarketBook, PaperBroker, PaperVenue
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperFillConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from tests.unit.test_paper_restart import ETH as ETH_KEY
from tests.unit.test_paper_restart import eth_book, limit, paper_config
from tests.unit.test_paper_venue import BUY, ETH, KEY, T0, fills_of, req

# -- 3. queue model: an unknown queue does not swallow the fills at the order's price ----


def test_an_order_placed_beyond_the_book_is_first_once_its_price_shows_empty() -> None:
    venue = PaperVenue([ETH], cash={"USDT": D("100000")}, fill=PaperFillConfig(resting="queue"))
    venue.set_book(MarketBook.of(KEY, [("1999.50", "3"), ("1999.25", "5")], [("2000.50", "1")]), T0)
    old = req(BUY, "1", "1990.00")
    venue.submit(old, T0)
    assert venue.orders[old.client_order_id].queue_ahead is None  # deeper than the book
    # The market comes down: 1,990.00 is inside the bids, nobody shown there.
    venue.set_book(
        MarketBook.of(KEY, [("1990.50", "3"), ("1989.50", "3")], [("1991.00", "2")]), T0 + 1
    )
    assert venue.orders[old.client_order_id].queue_ahead == 0
    reports = venue.set_book(MarketBook.of(KEY, [("1989.50", "3")], [("1990.00", "3")]), T0 + 2)
    got = {f.client_order_id: f.quantity for f in fills_of(reports)}
    assert got == {old.client_order_id: D("1")}


def test_a_known_queue_is_kept_when_its_level_traded_away() -> None:
    """The docs' example: a touch that takes our level off the bids still serves the
    queue ahead first (only an unknown queue is taken as empty)."""
    venue = PaperVenue([ETH], cash={"USDT": D("100000")}, fill=PaperFillConfig(resting="queue"))
    venue.set_book(MarketBook.of(KEY, [("1999.00", "2")], [("1999.50", "2")]), T0)
    order = req(BUY, "1", "1999.00")
    venue.submit(order, T0)
    reports = venue.set_book(MarketBook.of(KEY, [("1998.50", "2")], [("1999.00", "2.5")]), T0 + 1)
    assert [f.quantity for f in fills_of(reports)] == [D("0.5")]


async def _session(source: str, restart: bool, first_bids: list[tuple[str, str]]) -> D:
    config = paper_config(fill={"resting": "queue"}, market={"autorun": False, "source": source})
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(config, bus)
    await first.connect()
    await first.on_market_data(eth_book([("1999.00", "3")], [("2000.00", "2")]))
    await first.place(limit("A", Side.BUY, "1", "1999.00", TimeInForce.GTC))
    await first.settle()
    broker = first
    if restart:
        await first.close()
        broker = PaperBroker(config, bus)
        await broker.connect()
    await broker.on_market_data(eth_book(first_bids, [("2000.00", "2")]))
    # Offers come down to 1,999.00 with 2.5, the bids below it.
    await broker.on_market_data(eth_book([("1998.00", "5")], [("1999.00", "2.5")]))
    await broker.settle()
    order = broker.venue.order("A")
    assert order is not None
    filled = order.filled_qty
    await broker.close()
    await bus.close()
    return filled


@pytest.mark.parametrize("source", ["external", "synthetic"])
@pytest.mark.parametrize(
    ("first_bids", "expected"),
    [
        # The queue ahead left the level before the touch: first in the queue.
        ([("1999.25", "1"), ("1998.00", "4")], D("1")),
        # 2 still shown ahead at the first book: they trade first, 0.5 for us.
        ([("1999.00", "2"), ("1998.00", "4")], D("0.5")),
    ],
)
async def test_a_restored_order_keeps_its_place_in_the_queue(
    source: str, first_bids: list[tuple[str, str]], expected: D
) -> None:
    live = await _session(source, False, first_bids)
    restarted = await _session(source, True, first_bids)
    assert live == expected
    assert restarted == live


# -- 4. health slippage: weighted by quantity --------------------------------------------


async def test_health_slippage_of_the_docs_market_buy_is_3_25_bps() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(market={"autorun": False, "source": "external"}), bus)
    await broker.connect()
    await broker.on_market_data(
        eth_book(
            [("1999.50", "3"), ("1999.25", "5")],
            [("2000.50", "1"), ("2000.75", "2"), ("2001.00", "5")],
        )
    )
    await broker.place(
        OrderRequest(
            client_order_id="m",
            broker="paper",
            account="main",
            instrument=ETH_KEY,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=D("2.5"),
            tif=TimeInForce.IOC,
        )
    )
    await broker.settle()
    order = broker.venue.order("m")
    extra = broker.metrics.as_extra()
    await broker.close()
    await bus.close()
    assert order is not None
    assert order.avg_price == D("2000.65")
    assert extra["slippage_bps_avg"] == 3.25
    assert extra["slippage_bps_last"] == 3.75  # the last fill, 1.5 @ 2,000.75
