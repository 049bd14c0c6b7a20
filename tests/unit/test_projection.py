"""The desk's projection: built from events alone, with change sets per row.

Each event names the rows it changed (orders, positions, balances, marks) and flags
the rest; `take` hands them over once and starts afresh; an untaken change set stays
bounded. A session publishes each broker's profile (instruments, capabilities) and
publishes it again before heartbeats could push it out of the capped health stream.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    Balance,
    Capabilities,
    ConnectionState,
    Fill,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import MAX_LISTED, DeskProjection
from silvertine_tui.events import (
    BalanceEvent,
    BrokerProfile,
    BrokerProfileEvent,
    FillEvent,
    Health,
    HealthEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    QuoteEvent,
    Risk,
    RiskAction,
    RiskEvent,
)

ETH = Instrument(
    symbol="ETHUSDT",
    venue="PAPER",
    base_currency="ETH",
    quote_currency="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.0001"),
)
SRC = "paper/main"


def request(coid: str, qty: str = "1", instrument: Instrument = ETH) -> OrderRequestEvent:
    return OrderRequestEvent.create(
        SRC,
        OrderRequest(
            client_order_id=coid,
            broker="paper",
            account="main",
            instrument=instrument.key,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal(qty),
            limit_price=Decimal("3500"),
            tif=TimeInForce.GTC,
        ),
    )


def update(coid: str, status: OrderStatus) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(
        SRC, OrderUpdate(client_order_id=coid, status=status, venue_order_id=f"v-{coid}")
    )


def fill(
    coid: str,
    exec_id: str,
    qty: str = "1",
    instrument: Instrument = ETH,
    fee: str = "0",
    fee_currency: str = "",
) -> FillEvent:
    return FillEvent.create(
        SRC,
        Fill(
            broker="paper",
            account="main",
            client_order_id=coid,
            exec_id=exec_id,
            instrument=instrument.key,
            side=Side.BUY,
            quantity=Decimal(qty),
            price=Decimal("3500"),
            fee=Decimal(fee),
            fee_currency=fee_currency,
        ),
    )


def balance(currency: str, total: str) -> BalanceEvent:
    return BalanceEvent.create(
        SRC,
        Balance(
            broker="paper",
            account="main",
            currency=currency,
            total=Decimal(total),
            available=Decimal(total),
        ),
    )


def quote(mid: str) -> QuoteEvent:
    price = Decimal(mid)
    return QuoteEvent.create(
        "paper", Quote(instrument=ETH.key, bid=price - Decimal("0.01"), ask=price + Decimal("0.01"))
    )


def test_each_event_names_the_rows_it_changed() -> None:
    desk = DeskProjection()
    desk.apply(request("a"))
    desk.apply(request("b"))
    taken = desk.take()
    assert list(taken.orders) == ["a", "b"]
    assert not desk.take()  # taken once

    desk.apply(update("b", OrderStatus.NEW))
    first_fill = fill("a", "x-1")
    desk.apply(first_fill)
    desk.apply(balance("USDT", "96500"))
    taken = desk.take()
    assert list(taken.orders) == ["b", "a"]
    assert taken.positions == {("paper", "main", ETH.key)}
    assert taken.balances == {("paper", "main", "USDT")}
    assert not taken.marks

    # A quote moves a mark and nothing else; the same mark again is no change.
    desk.apply(quote("3510"))
    taken = desk.take()
    assert taken.marks == {ETH.key}
    assert not taken.desk
    desk.apply(quote("3510"))
    assert not desk.take()

    # The same event again (a re-sent batch) changes nothing; another report of the
    # same execution moves nothing but joins the order's audit trail (its history).
    desk.apply(first_fill)
    assert not desk.take()
    desk.apply(fill("a", "x-1"))
    taken = desk.take()
    assert list(taken.orders) == ["a"]
    assert not taken.positions


def test_a_spot_fee_in_an_asset_names_the_position_it_came_out_of() -> None:
    """On a spot broker a fee in an asset comes out of the position holding it: the
    change set names that row and the fill's own, not every position of the account
    (a desk of 50 positions redrew 50 rows a fill). A fill the OMS does not hold the
    order of (parked, evicted) still takes its fee: the row is named all the same."""
    bnb, btc = (
        Instrument(
            symbol=f"{base}USDT",
            venue="PAPER",
            base_currency=base,
            quote_currency="USDT",
            tick_size=Decimal("0.01"),
            lot_size=Decimal("0.0001"),
        )
        for base in ("BNB", "BTC")
    )
    desk = DeskProjection(spot_brokers=["paper"])
    desk.portfolio.set_instruments([ETH, bnb, btc], broker="paper")
    for n, inst in enumerate((ETH, bnb, btc)):
        desk.apply(request(f"o{n}", "5", inst))
        desk.apply(fill(f"o{n}", f"x{n}", "5", inst))
    desk.take()

    def row(inst: Instrument) -> tuple[str, str, str]:
        return ("paper", "main", inst.key)

    desk.apply(request("a"))
    desk.apply(fill("a", "xa", instrument=ETH, fee="0.01", fee_currency="BNB"))
    assert desk.take().positions == {row(ETH), row(bnb)}
    assert desk.portfolio.position("paper", "main", bnb.key) == Decimal("4.99")
    desk.apply(request("b"))
    desk.apply(fill("b", "xb", instrument=ETH, fee="0.01", fee_currency="USDT"))
    assert desk.take().positions == {row(ETH)}
    desk.apply(request("c"))
    desk.apply(fill("c", "xc", instrument=btc, fee="0.001", fee_currency="BTC"))
    assert desk.take().positions == {row(btc)}
    # No request seen for it: parked by the OMS, taken by the portfolio.
    desk.apply(fill("d", "xd", instrument=btc, fee="0.01", fee_currency="BNB"))
    taken = desk.take()
    assert "d" not in taken.orders
    assert taken.positions == {row(btc), row(bnb)}
    assert desk.portfolio.position("paper", "main", bnb.key) == Decimal("4.98")


def test_state_brokers_profiles_and_anomalies_come_from_their_streams() -> None:
    desk = DeskProjection()
    desk.apply(
        BrokerProfileEvent.create(
            "engine",
            BrokerProfile(
                broker="spot",
                live=True,
                capabilities=Capabilities(short_selling=False, post_only=True),
                order_links=("rest", "user"),
                instruments=(ETH,),
            ),
        )
    )
    assert desk.instrument("spot", ETH.key) == ETH
    caps = desk.capabilities("spot")
    assert caps is not None
    assert caps.post_only
    assert desk.live_money("spot")
    assert "spot" in desk.portfolio.spot_brokers
    assert desk.take().instruments

    desk.apply(
        HealthEvent.create(
            "broker:spot/main",
            Health(
                component="broker:spot/main",
                state=ConnectionState.DISCONNECTED,
                metrics={
                    "link:rest": "LIVE",
                    "link:user": "DISCONNECTED",
                    "link_detail:user": "stream dropped",
                },
            ),
        )
    )
    assert desk.broker_state("spot") is ConnectionState.DISCONNECTED
    assert desk.order_path_down("spot") == "user DISCONNECTED: stream dropped"
    assert desk.capabilities("spot") == caps  # the health event keeps the profile
    assert desk.take().brokers

    desk.apply(
        RiskEvent.create("engine", Risk(action=RiskAction.KILL, trading_state=TradingState.HALTED))
    )
    assert desk.trading_state is TradingState.HALTED
    assert desk.take().trading_state
    # A reject does not change the state.
    desk.apply(
        RiskEvent.create(
            "engine",
            Risk(action=RiskAction.REJECT, trading_state=TradingState.ACTIVE, rule="max"),
        )
    )
    assert desk.trading_state is TradingState.HALTED

    desk.apply(
        HealthEvent.create(
            "engine",
            Health(
                component="engine",
                state=ConnectionState.DEGRADED,
                message="overfill: ...",
                metrics={"overfill": 1, "anomalies": 1, "replayed": 2, "last": "filled 3 > 2"},
            ),
        )
    )
    assert desk.anomalies.total == 1
    assert desk.anomalies.replayed == 2
    assert desk.anomalies.last == "filled 3 > 2"
    assert ("overfill", 1) in desk.anomalies.counts
    # Restarted with short selling on: its newest profile says so, and its asset fees
    # no longer come out of positions (the broker stayed "spot" for good).
    shorting = BrokerProfile(
        broker="spot",
        live=True,
        capabilities=Capabilities(short_selling=True, post_only=True),
        order_links=("rest", "user"),
        instruments=(ETH,),
    )
    desk.apply(BrokerProfileEvent.create("engine", shorting))
    assert "spot" not in desk.portfolio.spot_brokers


def test_a_change_set_nobody_takes_stays_bounded() -> None:
    desk = DeskProjection()
    for n in range(MAX_LISTED + 50):
        desk.apply(balance(f"C{n}", "1"))
    changes = desk.peek()
    assert changes.everything
    assert len(changes.balances) < MAX_LISTED
    assert changes.desk
    assert desk.take().everything
    assert not desk.take()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(list(OrderStatus))),
        max_size=12,
    ),
    st.integers(0, 12),
)
def test_the_change_sets_name_every_order_that_moved(
    updates: list[tuple[str, OrderStatus]], cut: int
) -> None:
    """Whatever reports arrive, in any order: the orders whose rows differ between two
    takes are among the ids the change set named (a row redrawn from the change set
    alone is never stale)."""
    desk = DeskProjection()
    for coid in ("a", "b", "c"):
        desk.apply(request(coid))
    desk.take()

    def rows() -> dict[str, tuple[object, ...]]:
        return {
            k: (v.order.status, v.order.filled_qty, len(v.history)) for k, v in desk.orders.items()
        }

    for part in (updates[:cut], updates[cut:]):
        before = rows()
        for coid, status in part:
            desk.apply(update(coid, status))
        after = rows()
        moved = {k for k in after if after[k] != before.get(k)}
        assert moved <= set(desk.take().orders)


@pytest.mark.parametrize("configured", [40, 10_000])
async def test_the_session_publishes_profiles_and_again_before_they_are_trimmed(
    configured: int,
) -> None:
    # The bus's own cap decides (memory:// keeps fewer than the configured 10,000).
    bus = MemoryBus(BusOptions(health_maxlen=40))
    broker = PaperBrokerConfig(
        name="paper", account="main", seed=1, market={"autorun": False}, latency={"enabled": False}
    )
    session = Session(Settings(brokers=[broker], bus={"health_maxlen": configured}), bus=bus)
    await session.start()
    try:
        paper = session.brokers[0]
        assert isinstance(paper, PaperBroker)
        await paper.stop_health_loop()

        async def profiles() -> int:
            entries = await bus.read(bus.layout.health)
            return sum(1 for e in entries if isinstance(e.event, BrokerProfileEvent))

        assert await profiles() == 1
        rebuilt = DeskProjection()
        for entry in await bus.read(bus.layout.health):
            rebuilt.apply_entry(entry)
        assert set(rebuilt.instruments["paper"]) == set(session.engine.instruments["paper"])

        for n in range(25):  # more than half the cap of heartbeats
            await bus.publish(
                HealthEvent.create(
                    "x", Health(component="x", state=ConnectionState.LIVE, message=str(n))
                )
            )
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await profiles() >= 2:
                break
        assert await profiles() == 2
    finally:
        await session.close()
