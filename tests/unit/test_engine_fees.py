"""Fees in any currency: per currency on orders and positions, by their value in P&L,
and out of the asset's position on a spot venue (issue 11)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Fill, Instrument, Order, OrderRequest, OrderType, Side
from silvertine_tui.engine.portfolio import Portfolio

ETH = Instrument(
    symbol="ETHUSDT",
    venue="SPOT",
    base_currency="ETH",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.0001"),
)
BNB = Instrument(
    symbol="BNBUSDT",
    venue="SPOT",
    base_currency="BNB",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.001"),
)
KEY = ("spot", "main", ETH.key)


def fill(
    n: int,
    side: Side,
    qty: str,
    price: str,
    fee: str = "0",
    currency: str = "USDT",
    value: str | None = None,
    instrument: str = ETH.key,
) -> Fill:
    return Fill(
        exec_id=f"e{n}",
        client_order_id=f"c{n}",
        broker="spot",
        account="main",
        instrument=instrument,
        side=side,
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        fee_currency=currency,
        fee_value=None if value is None else D(value),
    )


def spot() -> Portfolio:
    p = Portfolio(spot_brokers=["spot"])
    p.set_instruments([ETH, BNB], broker="spot")
    return p


def test_a_fee_in_the_base_asset_comes_out_of_the_spot_position() -> None:
    p = spot()
    p.apply_fill(fill(1, Side.BUY, "3", "2000", fee="0.003", currency="ETH", value="6"))
    state = p.positions[KEY]
    assert state.quantity == D("2.997")
    assert state.avg_price == D("2000")
    assert state.fees == {"ETH": D("0.003")}
    # Selling all that is held at the same price loses exactly the fee's value.
    p.apply_fill(fill(2, Side.SELL, "2.997", "2000"))
    assert state.quantity == 0
    assert state.avg_price is None
    assert state.realized_pnl == D("-6")


def test_a_bnb_fee_comes_out_of_the_bnb_position_and_its_value_out_of_the_pnl() -> None:
    p = spot()
    p.apply_fill(fill(1, Side.BUY, "2", "600", instrument=BNB.key))
    p.apply_fill(fill(2, Side.BUY, "1", "2000", fee="0.0025", currency="BNB", value="1.50"))
    p.apply_fill(fill(3, Side.SELL, "1", "2010", fee="0.0025", currency="BNB", value="1.50"))
    assert p.position("spot", "main", ETH.key) == 0
    assert p.position("spot", "main", BNB.key) == D("1.995")
    eth = p.positions[KEY]
    assert eth.realized_pnl == D("10") - D("3.00")
    assert eth.fees == {"BNB": D("0.005")}
    totals = p.totals()
    assert totals.fees == {"BNB": D("0.005")}  # never added to USDT fees
    assert totals.realized == {"USDT": D("7.00")}


def test_a_fee_nobody_priced_stays_apart_from_the_pnl() -> None:
    p = spot()
    p.apply_fill(fill(1, Side.BUY, "1", "2000", fee="0.01", currency="XYZ"))
    p.apply_fill(fill(2, Side.SELL, "1", "2001", fee="2", currency="USDT"))
    eth = p.positions[KEY]
    assert eth.quantity == 0  # no position holds XYZ: nothing taken
    assert eth.realized_pnl == D("-1")
    assert p.totals().fees == {"XYZ": D("0.01"), "USDT": D("2")}


def test_a_margin_account_keeps_its_position_whole() -> None:
    p = Portfolio()
    p.set_instruments([ETH], broker="spot")
    p.apply_fill(fill(1, Side.BUY, "3", "2000", fee="0.003", currency="ETH", value="6"))
    assert p.position("spot", "main", ETH.key) == D("3")
    assert p.positions[KEY].realized_pnl == D("-6")


def test_fees_replayed_before_the_instruments_are_known_are_taken_when_they_load() -> None:
    p = Portfolio(spot_brokers=["spot"])
    p.apply_fill(fill(1, Side.BUY, "2", "600", instrument=BNB.key))
    p.apply_fill(fill(2, Side.BUY, "3", "2000", fee="0.003", currency="ETH", value="6"))
    p.apply_fill(fill(3, Side.BUY, "1", "2000", fee="0.001", currency="BNB", value="0.6"))
    p.apply_fill(fill(4, Side.BUY, "1", "2000", fee="2", currency="USDT"))
    assert p.position("spot", "main", ETH.key) == D("5")
    p.set_instruments([ETH, BNB], broker="spot")
    assert p.position("spot", "main", ETH.key) == D("4.997")
    assert p.position("spot", "main", BNB.key) == D("1.999")
    assert p.unplaced == {}
    assert p.positions[KEY].realized_pnl == D("-8.6")


def test_order_fees_are_kept_per_currency() -> None:
    request = OrderRequest(
        broker="spot",
        account="main",
        instrument=ETH.key,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=D("3"),
    )
    order = Order.from_request(request)
    for n, fee, currency in ((1, "0.001", "ETH"), (2, "0.002", "BNB"), (3, "0.001", "ETH")):
        made = fill(n, Side.BUY, "1", "2000", fee=fee, currency=currency)
        order.apply_fill(made.model_copy(update={"client_order_id": request.client_order_id}))
    assert order.fees == {"ETH": D("0.002"), "BNB": D("0.002")}


fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=50_000),  # quantity in 0.0001
        st.integers(min_value=1, max_value=20),  # fee in 0.0001 (below any fill)
        st.integers(min_value=1900, max_value=2100),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(fills)
def test_spot_position_is_signed_fills_less_base_fees(
    trades: list[tuple[Side, int, int, int]],
) -> None:
    p = spot()
    expected = D(0)
    for n, (side, qty, fee, price) in enumerate(trades):
        quantity, charged = D(qty).scaleb(-4), D(fee).scaleb(-4)
        p.apply_fill(
            fill(n, side, f"{quantity}", f"{price}", fee=f"{charged}", currency="ETH", value="1")
        )
        expected += quantity * side.sign - charged
    assert p.position("spot", "main", ETH.key) == expected
    state = p.positions.get(KEY)
    if state is not None:
        assert state.fees.get("ETH", D(0)) == sum((D(f).scaleb(-4) for _, _, f, _ in trades), D(0))
