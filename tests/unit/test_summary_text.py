"""Event descriptions a trader can read: prices on the tick, quantities on the lot,
what happened first, never a 28-digit average."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import (
    Balance,
    Fill,
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
    TradingState,
)
from silvertine_tui.events import (
    BalanceEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    Risk,
    RiskAction,
    RiskEvent,
    describe,
)
from silvertine_tui.events.summary import Describer, trim

AAPL = Instrument(
    symbol="AAPL",
    venue="SMART",
    quote_currency="USD",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("1"),
)
ETH = Instrument(
    symbol="ETHUSDT",
    venue="PAPER",
    base_currency="ETH",
    quote_currency="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.0001"),
)
INSTRUMENTS = {i.key: i for i in (AAPL, ETH)}

REQUEST = OrderRequest(
    client_order_id="st0000000000000000a1b2",
    broker="paper",
    account="main",
    instrument="AAPL.SMART",
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    quantity=Decimal("2"),
    limit_price=Decimal("190.05"),
)


def test_an_order_update_leads_with_what_happened() -> None:
    describer = Describer(INSTRUMENTS.get)
    describer(OrderRequestEvent.create("paper/main", REQUEST))
    update = OrderUpdateEvent.create(
        "paper/main", OrderUpdate(client_order_id=REQUEST.client_order_id, status=OrderStatus.NEW)
    )
    assert describer(update) == "NEW BUY 2 AAPL.SMART @ 190.05 (…a1b2)"


def test_a_replaced_order_is_described_with_its_new_terms() -> None:
    """After a modify the venue's NEW carries the new price (and a new venue id at
    Binance): the line says the order as it now is, not as it was sent, and that it
    was modified (`NEW BUY 3 ...` read as a new order in the Log)."""
    describer = Describer(INSTRUMENTS.get)
    describer(OrderRequestEvent.create("paper/main", REQUEST))
    update = OrderUpdateEvent.create(
        "paper/main",
        OrderUpdate(
            client_order_id=REQUEST.client_order_id,
            status=OrderStatus.NEW,
            venue_order_id="2",
            quantity=Decimal("3"),
            limit_price=Decimal("190.10"),
        ),
    )
    assert describer(update) == "NEW (modified) BUY 3 AAPL.SMART @ 190.10 (…a1b2)"
    # The same terms reported again (a later report) change nothing: no second word.
    assert describer(update) == "NEW BUY 3 AAPL.SMART @ 190.10 (…a1b2)"


def test_a_fill_is_on_the_tick_and_lot_with_its_fee() -> None:
    fill = FillEvent.create(
        "paper/main",
        Fill(
            exec_id="e1",
            client_order_id="st0000000000000000c3d4",
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            quantity=Decimal("0.50000000"),
            price=Decimal("3012.4"),
            fee=Decimal("1.5062000"),
            fee_currency="USDT",
        ),
    )
    text = describe(fill, instruments=INSTRUMENTS.get)
    # The fee as charged (1.5062), not rounded onto the price's tick (1.51).
    assert text == "FILL BUY 0.5 ETHUSDT.PAPER @ 3,012.40 fee 1.5062 USDT (…c3d4)"
    small = fill.payload.model_copy(update={"fee": Decimal("0.0031")})
    text = describe(FillEvent.create("paper/main", small), instruments=INSTRUMENTS.get)
    assert "fee 0.0031 USDT" in text  # never "fee 0.00": that reads as no fee
    whole = fill.payload.model_copy(update={"fee": Decimal("1.5")})
    text = describe(FillEvent.create("paper/main", whole), instruments=INSTRUMENTS.get)
    assert "fee 1.50 USDT" in text


def test_a_fill_between_two_ticks_is_said_at_its_price() -> None:
    """IB fills US stocks at sub-penny prices: a BUY at 3,012.4049 was said `@ 3,012.40`
    in the Log and the header's fill line, a price the trader did not get (and the
    average, from the same fill, read 3,012.405)."""
    fill = Fill(
        exec_id="e2",
        client_order_id="st0000000000000000c3d4",
        broker="paper",
        account="main",
        instrument="ETHUSDT.PAPER",
        side=Side.BUY,
        quantity=Decimal("1"),
        price=Decimal("3012.404900"),
    )
    text = describe(FillEvent.create("paper/main", fill), instruments=INSTRUMENTS.get)
    assert text == "FILL BUY 1 ETHUSDT.PAPER @ 3,012.4049 (…c3d4)"


def test_an_average_is_shown_one_decimal_finer_than_the_tick() -> None:
    position = PositionEvent.create(
        "paper/main",
        Position(
            broker="paper",
            account="main",
            instrument="AAPL.SMART",
            quantity=Decimal("3"),
            avg_price=Decimal("570.16") / 3,
        ),
    )
    assert describe(position, instruments=INSTRUMENTS.get) == ("POSITION AAPL.SMART 3 avg 190.053")


def test_an_average_on_the_tick_is_shown_on_the_tick() -> None:
    position = PositionEvent.create(
        "paper/main",
        Position(
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            quantity=Decimal("1.5"),
            avg_price=Decimal("3500.3000000"),
        ),
    )
    assert describe(position, instruments=INSTRUMENTS.get) == (
        "POSITION ETHUSDT.PAPER 1.5 avg 3,500.30"
    )


def test_without_an_instrument_numbers_are_trimmed() -> None:
    position = PositionEvent.create(
        "paper/main",
        Position(
            broker="paper",
            account="main",
            instrument="XYZ.NOWHERE",
            quantity=Decimal("3.000"),
            avg_price=Decimal("570.16") / 3,
        ),
    )
    assert describe(position) == "POSITION XYZ.NOWHERE 3 avg 190.05333333"


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_trim_never_prints_more_than_eight_decimals(value: Decimal) -> None:
    text = trim(value)
    decimals = text.partition(".")[2]
    assert len(decimals) <= 8
    assert "E" not in text
    assert "e" not in text


def test_a_balance_line_writes_the_figures_the_balances_pane_shows() -> None:
    """Exactly as held, two places at least: the log wrote `total 100,000` beside the
    pane's `100,000.00`, and rounded a balance past eight places up (1.000000009 BTC
    read `1.00000001`, more than is there; the pane's `1.00…` says more is held)."""
    usdt = Balance(
        broker="paper", account="main", currency="USDT",
        total=Decimal("100000"), available=Decimal("98247.85961"),
    )  # fmt: skip
    assert describe(BalanceEvent.create("paper/main", usdt)) == (
        "BALANCE USDT paper total 100,000.00 available 98,247.85961"
    )
    btc = usdt.model_copy(
        update={"currency": "BTC", "total": Decimal("1.000000009"), "available": Decimal("0")}
    )
    assert describe(BalanceEvent.create("paper/main", btc)) == (
        "BALANCE BTC paper total 1.00… available 0.00"  # cut toward zero, marked
    )


def test_replay_prints_trimmed_numbers_and_names_the_order() -> None:
    """`silvertine replay` has no instruments: it trims, and an update after its
    request says what the order is."""
    import io

    from silvertine_tui.bus.base import BusEntry
    from silvertine_tui.cli import _TablePrinter

    out = io.StringIO()
    printer = _TablePrinter(out, "st:")
    events: list[OrderRequestEvent | OrderUpdateEvent] = [
        OrderRequestEvent.create("paper/main", REQUEST),
        OrderUpdateEvent.create(
            "paper/main",
            OrderUpdate(
                client_order_id=REQUEST.client_order_id,
                status=OrderStatus.FILLED,
                filled_qty=Decimal("2"),
                avg_price=Decimal("570.16") / 3,
            ),
        ),
    ]
    for n, event in enumerate(events):
        printer.print(BusEntry("st:exec:paper:main", f"1-{n}", event))
    lines = out.getvalue().splitlines()
    assert lines[2].endswith(
        "FILLED BUY 2 AAPL.SMART @ 190.05 filled 2 avg 190.05333333 (st0000000000000000a1b2)"
    )


def test_an_update_for_an_order_seen_elsewhere_asks_the_order_lookup() -> None:
    """The UI starts after an order was sent: the OMS knows it, the feed did not show it."""
    describer = Describer(INSTRUMENTS.get, orders={REQUEST.client_order_id: REQUEST}.get)
    update = OrderUpdateEvent.create(
        "paper/main",
        OrderUpdate(client_order_id=REQUEST.client_order_id, status=OrderStatus.CANCELED),
    )
    assert describer(update) == "CANCELED BUY 2 AAPL.SMART @ 190.05 (…a1b2)"


def test_an_order_for_an_amount_of_the_quote_currency_says_the_amount() -> None:
    spend = OrderRequest(
        client_order_id="st0000000000000000e5f6",
        broker="binance",
        account="main",
        instrument="ETHUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quote_quantity=Decimal("250.50"),
        tif="IOC",
    )
    describer = Describer(INSTRUMENTS.get)
    assert describer(OrderRequestEvent.create("binance/main", spend)) == (
        "SEND BUY 250.5 USDT of ETHUSDT.PAPER MARKET IOC (…e5f6)"
    )
    update = OrderUpdateEvent.create(
        "binance/main", OrderUpdate(client_order_id=spend.client_order_id, status=OrderStatus.NEW)
    )
    assert describer(update) == "NEW BUY 250.5 USDT of ETHUSDT.PAPER (…e5f6)"


def test_a_risk_event_has_no_gap_where_it_names_no_rule() -> None:
    kill = RiskEvent.create(
        "engine",
        Risk(action=RiskAction.KILL, trading_state=TradingState.HALTED, message="kill switch"),
    )
    assert describe(kill) == "KILL HALTED kill switch"
    reject = RiskEvent.create(
        "engine",
        Risk(
            action=RiskAction.REJECT,
            trading_state=TradingState.ACTIVE,
            rule="price_collar",
            message="limit_price 140 is 6.52% from mark",
        ),
    )
    assert describe(reject) == "REJECT ACTIVE price_collar limit_price 140 is 6.52% from mark"
