"""Every line that describes an order event shows the order's terms in force at that
event: the request's, as every accepted modify before it changed them. A venue
reports the new terms only on the replace it accepted; the reports after it (fills,
the cancel, the end) carry none, and a line must not fall back to the terms the order
was sent with (`CANCELED BUY 0.8 ... @ 65,017.09` for an order modified to 0.6 @
65,000.00; `FILLED BUY 0.8 ... @ 65,003.29 ... avg 65,015.43`, a buy filled above its
limit). The Log pane (`FeedModel`), `silvertine replay` (`_TablePrinter`) and the
headless log describe through `Describer`; the order history view too
(tests/ui/test_order_terms_ui.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus.base import BusEntry
from silvertine_tui.cli import _TablePrinter
from silvertine_tui.domain import (
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.events import (
    CancelRequest,
    CancelRequestEvent,
    Event,
    FillEvent,
    ModifyRequest,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
)
from silvertine_tui.events.summary import Describer, price_text, qty_text, trim
from silvertine_tui.ui.model import FeedModel

BTC = Instrument(
    symbol="BTCUSDT",
    venue="PAPER",
    base_currency="BTC",
    quote_currency="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00001"),
)
COID = "st000000000000000777"
SOURCE = "paper/main"
STREAM = "silvertine:exec:paper:main"

LOTS = st.integers(min_value=1, max_value=100).map(lambda n: Decimal(n) / 100)
PRICES = st.integers(min_value=6_000_000, max_value=6_600_000).map(lambda n: Decimal(n) / 100)


@dataclass(frozen=True)
class Modify:
    quantity: Decimal | None
    limit_price: Decimal | None
    accepted: bool
    """By the venue; else refused, the order's terms unchanged."""


@dataclass(frozen=True)
class Part:
    percent: int
    """Of what is left to fill."""


Action = Modify | Part

MODIFY = st.builds(Modify, st.one_of(st.none(), LOTS), st.one_of(st.none(), PRICES), st.booleans())
FILL = st.builds(Part, st.integers(min_value=1, max_value=100))
ACTIONS = st.lists(st.one_of(MODIFY, FILL), max_size=12)
END = st.sampled_from(["cancel", "fill all", "none"])


@dataclass
class Line:
    event: Event
    quantity: Decimal
    price: Decimal
    """The terms in force at the event (the test's own account of them)."""


def journal(quantity: Decimal, price: Decimal, actions: list[Action], end: str) -> list[Line]:
    """The journal of one order, as an adapter writes it, with the terms in force at
    each event worked out here: an accepted modify's update carries the new terms
    (as the paper venue's REPLACED, Binance's cancel-replace and IB's modify ack do),
    a refused one only the order's previous status and why."""
    request = OrderRequest(
        client_order_id=COID,
        broker="paper",
        account="main",
        instrument=BTC.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        limit_price=price,
    )
    lines: list[Line] = []
    filled = Decimal(0)
    notional = Decimal(0)
    status = OrderStatus.NEW
    execs = 0

    def add(event: Event) -> None:
        lines.append(Line(event, quantity, price))

    def update(new: OrderStatus, **fields: Any) -> None:
        add(
            OrderUpdateEvent.create(SOURCE, OrderUpdate(client_order_id=COID, status=new, **fields))
        )

    def fill(amount: Decimal) -> None:
        nonlocal filled, notional, status, execs
        execs += 1
        filled += amount
        notional += amount * price
        add(
            FillEvent.create(
                SOURCE,
                Fill(
                    exec_id=f"e{execs}",
                    client_order_id=COID,
                    broker="paper",
                    account="main",
                    instrument=BTC.key,
                    side=Side.BUY,
                    quantity=amount,
                    price=price,
                ),
            )
        )
        status = OrderStatus.FILLED if filled == quantity else OrderStatus.PARTIALLY_FILLED
        update(status, filled_qty=filled, avg_price=notional / filled)

    add(OrderRequestEvent.create(SOURCE, request))
    update(OrderStatus.PENDING_NEW)
    update(OrderStatus.NEW, venue_order_id="P1", filled_qty=Decimal(0))
    for action in actions:
        if status is OrderStatus.FILLED:
            break
        if isinstance(action, Modify):
            new_qty, new_price = action.quantity, action.limit_price
            if new_qty is not None and new_qty <= filled:
                new_qty = None  # the ticket and the venue refuse it before anything
            if new_qty is None and new_price is None:
                continue
            add(
                ModifyRequestEvent.create(
                    SOURCE,
                    ModifyRequest(client_order_id=COID, quantity=new_qty, limit_price=new_price),
                )
            )
            update(OrderStatus.PENDING_REPLACE)
            if action.accepted:
                quantity = new_qty if new_qty is not None else quantity
                price = new_price if new_price is not None else price
                update(
                    status,
                    venue_order_id="P1",
                    filled_qty=filled,
                    quantity=quantity,
                    limit_price=price,
                )
            else:
                update(status, filled_qty=filled, reason="modify refused: price band")
        else:
            rest = quantity - filled
            amount = (rest * action.percent / 100).quantize(Decimal("0.01"))
            if amount > 0:
                fill(min(amount, rest))
    if status is OrderStatus.FILLED:
        pass
    elif end == "cancel":
        add(CancelRequestEvent.create(SOURCE, CancelRequest(client_order_id=COID)))
        update(OrderStatus.PENDING_CANCEL)
        avg = notional / filled if filled else None
        update(OrderStatus.CANCELED, filled_qty=filled, avg_price=avg, reason="canceled")
    elif end == "fill all" and filled < quantity:
        fill(quantity - filled)
    return lines


def order_lines(
    lines: list[Line], texts: list[str], qty: Callable[[Decimal], str], px: Callable[[Decimal], str]
) -> int:
    """Check each line that names the order's terms; how many there were. An update
    that changed them (an accepted modify's) says so: `NEW (modified) BUY ...`."""
    checked = 0
    before = (lines[0].quantity, lines[0].price)
    for line, text in zip(lines, texts, strict=True):
        payload = line.event.payload
        moved, before = (line.quantity, line.price) != before, (line.quantity, line.price)
        if isinstance(payload, OrderUpdate):
            lead = f"{payload.status} (modified) " if moved else f"{payload.status} "
        elif isinstance(payload, CancelRequest):
            lead = "CANCEL requested "
        else:
            continue
        terms = f"BUY {qty(line.quantity)} BTCUSDT.PAPER @ {px(line.price)}"
        assert text.startswith(lead + terms), (text, terms)
        checked += 1
    return checked


@settings(max_examples=150, deadline=None)
@given(quantity=LOTS, price=PRICES, actions=ACTIONS, end=END)
def test_every_line_shows_the_terms_in_force(
    quantity: Decimal, price: Decimal, actions: list[Action], end: str
) -> None:
    lines = journal(quantity, price, actions, end)

    # The OMS's order agrees with the test's account of the terms at every event.
    first = lines[0].event.payload
    assert isinstance(first, OrderRequest)
    order = Order.from_request(first)
    for line in lines[1:]:
        payload = line.event.payload
        if isinstance(payload, OrderUpdate):
            order.apply_update(payload)
        elif isinstance(payload, Fill):
            order.apply_fill(payload)
        assert (order.quantity, order.limit_price) == (line.quantity, line.price)

    def qty(value: Decimal) -> str:
        return qty_text(value, BTC)

    def px(value: Decimal) -> str:
        return price_text(value, BTC)

    # The describer itself, as the Log pane's and the headless log's.
    describer = Describer({BTC.key: BTC}.get)
    texts = [describer(line.event) for line in lines]
    assert order_lines(lines, texts, qty, px) >= 2

    # The Log pane: the feed model's lines.
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    model.describer.instruments = {BTC.key: BTC}.get
    for n, line in enumerate(lines):
        model.ingest(BusEntry(STREAM, f"1767364200000-{n}", line.event))
    assert order_lines(lines, [log.text for log in model.log], qty, px) >= 2

    # `silvertine replay`: no instruments, numbers trimmed, ids whole.
    out = io.StringIO()
    printer = _TablePrinter(out, "silvertine:")
    for n, line in enumerate(lines):
        printer.print(BusEntry(STREAM, f"1767364200000-{n}", line.event))
    printed = [row.split(maxsplit=5)[5] for row in out.getvalue().splitlines()[1:]]
    assert order_lines(lines, printed, trim, trim) >= 2


def test_the_trader_s_orders() -> None:
    """The two orders of the finding, line for line."""
    lines = journal(
        Decimal("0.8"),
        Decimal("65017.09"),
        [Modify(Decimal("0.6"), Decimal("65000"), accepted=True), Part(89)],
        "cancel",
    )
    describer = Describer({BTC.key: BTC}.get)
    texts = [describer(line.event) for line in lines]
    assert texts[-3].startswith("CANCEL requested BUY 0.6 BTCUSDT.PAPER @ 65,000.00 ")
    assert texts[-1].startswith(
        "CANCELED BUY 0.6 BTCUSDT.PAPER @ 65,000.00 filled 0.53 avg 65,000.00 "
    )

    moved = journal(
        Decimal("0.8"),
        Decimal("65003.29"),
        [Modify(None, Decimal("65015.43"), accepted=True)],
        "fill all",
    )
    describer = Describer({BTC.key: BTC}.get)
    texts = [describer(line.event) for line in moved]
    assert texts[-1].startswith("FILLED BUY 0.8 BTCUSDT.PAPER @ 65,015.43 filled 0.8 avg 65,015.43")

    # A refused modify leaves the terms (the modify request is only the intent).
    refused = journal(
        Decimal("0.8"),
        Decimal("65017.09"),
        [Modify(Decimal("0.6"), Decimal("65000"), accepted=False)],
        "cancel",
    )
    describer = Describer({BTC.key: BTC}.get)
    texts = [describer(line.event) for line in refused]
    assert texts[-1].startswith("CANCELED BUY 0.8 BTCUSDT.PAPER @ 65,017.09 ")


def test_a_stop_order_s_lines_name_its_trigger() -> None:
    """`NEW BUY 0.01 BTCUSDT.PAPER @ 65,600.00` for a stop-limit buy with the market at
    64,990 read as a limit buy above the market that had not filled: every line of a
    stop order names its stop, as the trigger moves with a modify."""
    request = OrderRequest(
        client_order_id=COID,
        broker="paper",
        account="main",
        instrument=BTC.key,
        side=Side.BUY,
        order_type=OrderType.STOP_LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal("65600"),
        stop_price=Decimal("65500"),
    )

    def update(status: OrderStatus, **fields: Any) -> Event:
        return OrderUpdateEvent.create(
            SOURCE, OrderUpdate(client_order_id=COID, status=status, **fields)
        )

    describer = Describer({BTC.key: BTC}.get)
    texts = [
        describer(event)
        for event in (
            OrderRequestEvent.create(SOURCE, request),
            update(OrderStatus.NEW, venue_order_id="P1"),
            update(OrderStatus.NEW, venue_order_id="P1", stop_price=Decimal("65400")),
            CancelRequestEvent.create(SOURCE, CancelRequest(client_order_id=COID)),
            update(OrderStatus.CANCELED, reason="canceled"),
        )
    ]
    assert texts[0].startswith("SEND BUY 0.01 BTCUSDT.PAPER STOP_LIMIT @ 65,600.00 stop 65,500.00")
    assert texts[1].startswith("NEW BUY 0.01 BTCUSDT.PAPER @ 65,600.00 stop 65,500.00 ")
    assert texts[2].startswith("NEW (modified) BUY 0.01 BTCUSDT.PAPER @ 65,600.00 stop 65,400.00 ")
    assert texts[3].startswith("CANCEL requested BUY 0.01 BTCUSDT.PAPER @ 65,600.00 stop 65,400.00")
    assert texts[4].startswith("CANCELED BUY 0.01 BTCUSDT.PAPER @ 65,600.00 stop 65,400.00 ")
