"""Paper with `fees.currency: base`: a buy pays its fee in the asset it receives, the
position holds the rest, and a restart rebuilds that from the journal (issue 11)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.events import FillEvent

from .test_paper_broker import ETH, exec_events, paper_config, tick_price


def market(coid: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=side,
        order_type=OrderType.MARKET,
        quantity=D(qty),
        tif=TimeInForce.IOC,
    )


async def test_base_fees_come_out_of_the_position_and_survive_a_restart() -> None:
    config = paper_config(fees={"taker_bps": "10", "currency": "base"}, latency={"enabled": False})
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(config, bus)
    await first.connect()
    await first.step(2)
    cash = {b.currency: b.total for b in await first.balances()}["USDT"]
    await first.place(market("b1", Side.BUY, "3"), market_price=tick_price(first, 0))
    await first.settle()
    fills = [e.payload for e in await exec_events(bus) if isinstance(e, FillEvent)]
    assert {f.fee_currency for f in fills} == {"ETH"}
    fee = sum(f.fee for f in fills)
    assert fee == D("0.003")  # 10 bps of 3 ETH
    assert sum(f.fee_value or 0 for f in fills) == sum(f.quantity * f.price for f in fills) * D(
        "0.001"
    )
    [position] = await first.positions()
    assert position.quantity == D("2.997")
    cost = sum(f.quantity * f.price for f in fills)
    balances = {b.currency: b.total for b in await first.balances()}
    assert balances["USDT"] == cash - cost  # no cash for the fee
    await first.close()

    # A restart rebuilds the position less the fee, and the cash, from the journal.
    again = PaperBroker(config, bus)
    await again.connect()
    assert [p.quantity for p in await again.positions()] == [D("2.997")]
    assert {b.currency: b.total for b in await again.balances()}["USDT"] == cash - cost
    # A sell pays in the quote currency it receives, and can sell all that is held.
    await again.place(market("s1", Side.SELL, "2.997"), market_price=tick_price(again, 0))
    await again.settle()
    sold = [
        e.payload
        for e in await exec_events(bus)
        if isinstance(e, FillEvent) and e.payload.client_order_id == "s1"
    ]
    assert {f.fee_currency for f in sold} == {"USDT"}
    assert sum(f.quantity for f in sold) == D("2.997")
    assert [p.quantity for p in await again.positions()] in ([], [D(0)])
    await again.close()


async def test_the_engine_agrees_with_the_venue_on_a_position_less_its_base_fee() -> None:
    from silvertine_tui.config import RiskConfig
    from silvertine_tui.engine.core import TradingEngine
    from silvertine_tui.engine.recovery import reconcile_broker, replay_stream

    config = paper_config(fees={"taker_bps": "10", "currency": "base"}, latency={"enabled": False})
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(config, bus)
    engine = TradingEngine(bus, [broker], RiskConfig())
    await broker.connect()
    await engine.load_instruments()
    await broker.step(2)
    book = broker.venue.book(ETH)
    assert book is not None
    engine.portfolio.apply_quote(book.to_quote())  # the mark the gate prices it at
    await engine.submit(market("b1", Side.BUY, "3"))
    await broker.settle()
    await replay_stream(engine, bus.layout.exec("paper", "main"))
    assert engine.position("paper", "main", ETH) == D("2.997")
    assert engine.oms.orders["b1"].order.fees == {"ETH": D("0.003")}
    state = engine.portfolio.positions[("paper", "main", ETH)]
    assert state.realized_pnl == -sum(
        f.fee_value or 0
        for f in (e.payload for e in await exec_events(bus) if isinstance(e, FillEvent))
    )
    assert await reconcile_broker(engine, broker) == []
    assert engine.anomalies.total == 0
    await broker.close()


async def test_buying_back_a_short_pays_the_fee_in_cash_and_leaves_it_flat() -> None:
    """Short selling on: the trader sells 1 short, then buys 1 back. The position is
    flat and the buy's fee is charged in USDT, like a sell's: a fee in ETH taken out of
    the buy used to leave a short of 0.001 ETH with no average price, too small to
    close (under the minimum notional)."""
    config = paper_config(
        fees={"taker_bps": "10", "currency": "base"},
        latency={"enabled": False},
        checks={"short_selling": True},
    )
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(config, bus)
    await broker.connect()
    await broker.step(2)
    await broker.place(market("s1", Side.SELL, "1"), market_price=tick_price(broker, 0))
    await broker.place(market("b1", Side.BUY, "1"), market_price=tick_price(broker, 0))
    await broker.settle()
    bought = [
        e.payload
        for e in await exec_events(bus)
        if isinstance(e, FillEvent) and e.payload.client_order_id == "b1"
    ]
    assert {f.fee_currency for f in bought} == {"USDT"}
    assert [p.quantity for p in await broker.positions()] in ([], [D(0)]), (
        f"after buying the short back: {await broker.positions()}"
    )
    await broker.close()
    # A restart agrees.
    again = PaperBroker(config, bus)
    await again.connect()
    assert [p.quantity for p in await again.positions()] in ([], [D(0)])
    await again.close()
    await bus.close()
