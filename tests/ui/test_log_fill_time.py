"""The Log pane times a fill by when it was executed, not by when the desk heard of it,
as an order's history does (docs/ui.md, the Log pane; `fill_times.line_times`, one rule for
both).

Every Log line was timed at its arrival: a fill made while the link was down, and
journaled by the resync at the reconnect, read at the reconnect (`14:30:04 fill FILL
BUY 2 ...` for a fill executed at 14:30:02). Its line now reads at its execution and,
heard a second or more apart, ends saying when (`, heard 14:30:04`); the lines stay in
the order they arrived (the fill after the reconnect's, before the FILLED it led to)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus.base import BusEntry
from silvertine_tui.domain import Balance, Fill, OrderStatus, Side
from silvertine_tui.events import BalanceEvent, FillEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.event_log import EventLog

from .conftest import Desk, limit_buy
from .test_history_fill_time import CID, ETH, through_the_buy

FILL_80 = [
    "14:30:02 fill    FILL BUY 2 ETHUSDT.PAPER @ 3,400.00 fee 5.44 USDT (…0771),",
    "                 heard 14:30:04",
]


def log_rows(log: EventLog) -> list[str]:
    """The log's rows on screen, as drawn."""
    rows = [log.render_line(y).text.rstrip() for y in range(log.scrollable_content_region.height)]
    return [row for row in rows if row]


def the_log(desk: Desk) -> EventLog:
    return desk.app.screen.query_one(EventLog)


async def test_a_fill_found_on_a_reconnect_reads_at_its_execution_in_the_log(make_desk) -> None:
    """The link drops at 14:30:01; the buy fills at the venue at 14:30:02; the link is
    back at 14:30:04 and the resync journals the fill then. Its Log line reads 14:30:02
    and ends `, heard 14:30:04`, after the reconnect's lines and before the FILLED (the
    order of arrival); filtered to fills (`f`) alike. It read `14:30:04 fill ...`."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)  # 14:30:01
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        await desk.broker.drop_link()
        desk.clock.advance(1)  # 14:30:02: it fills at the venue, unheard
        await through_the_buy(desk, pilot)
        desk.clock.advance(2)  # 14:30:04: back, and the resync journals the fill
        await desk.broker.restore_link()
        await desk.settle(pilot)
        view = desk.session.projection.order(CID)
        assert view is not None
        assert view.order.status is OrderStatus.FILLED
        await pilot.press("7")
        await desk.settle(pilot)
        rows = log_rows(the_log(desk))
        at = rows.index(FILL_80[0])
        assert rows[at : at + 2] == FILL_80, rows
        assert rows[at - 2 : at] == [
            "14:30:04 health  broker:paper/main LIVE reconnected; 4 missed reports",
            "                 published",
        ], rows
        assert rows[at + 2].startswith("14:30:04 update  FILLED BUY 2 ETHUSDT.PAPER"), rows
        await pilot.press("f")
        await desk.settle(pilot)
        assert log_rows(the_log(desk)) == FILL_80
        await desk.session.close()


async def test_in_the_grid_the_fill_reads_at_its_execution(make_desk) -> None:
    """At 120x36 the Log beside the other panes has no kind column: the fill's line
    leads with its execution time, and says when it was heard."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        await desk.broker.drop_link()
        desk.clock.advance(1)
        await through_the_buy(desk, pilot)
        desk.clock.advance(2)
        await desk.broker.restore_link()
        await desk.settle(pilot)
        await pilot.press("7", "f")
        await desk.settle(pilot)
        log = the_log(desk)
        assert log.fills_only
        assert log.size.width < 60  # (the grid's: no kind column)
        said = " ".join(row.strip() for row in log_rows(log))
        assert said.startswith("14:30:02 FILL BUY 2 ETHUSDT.PAPER"), said
        assert said.endswith("(…0771), heard 14:30:04"), said
        await desk.session.close()


async def test_a_fill_heard_as_it_happened_reads_as_every_log_line(make_desk) -> None:
    """Heard at once, a fill's Log line is timed as every other (no `heard`)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        desk.clock.advance(1)
        await through_the_buy(desk, pilot)
        await pilot.press("7", "f")
        await desk.settle(pilot)
        assert log_rows(the_log(desk)) == [
            "14:30:02 fill    FILL BUY 2 ETHUSDT.PAPER @ 3,400.00 fee 5.44 USDT (…0771)"
        ]
        await desk.session.close()


S = 1_000_000_000
START_MS = 1_767_364_200_000  # 14:30:00


def clock_of(ns: int) -> str:
    """HH:MM:SS (UTC) of `ns`, as the desk's clock says it."""
    return datetime.fromtimestamp(ns // S, UTC).strftime("%H:%M:%S")


def fill_event(n: int, executed_ns: int | None) -> FillEvent:
    fill = Fill(
        exec_id=f"x{n}",
        client_order_id=CID,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        quantity=Decimal(1),
        price=Decimal("3400.00"),
        venue_ts_ns=executed_ns,
    )
    return FillEvent.create("paper/main", fill, ts=executed_ns or START_MS * 1_000_000)


def balance_event() -> BalanceEvent:
    balance = Balance(
        broker="paper",
        account="main",
        currency="USDT",
        total=Decimal(100),
        available=Decimal(100),
        locked=Decimal(0),
    )
    return BalanceEvent.create("paper/main", balance, ts=START_MS * 1_000_000)


# Each event: the milliseconds since the last arrival, and a fill's execution relative
# to its arrival (None: a balance; "none": a fill with no venue time).
EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3_000),
        st.one_of(st.none(), st.just("none"), st.integers(-5_000, 5_000)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(events=EVENTS)
def test_the_log_times_each_fill_at_its_execution_and_keeps_the_order_of_arrival(
    events: list[tuple[int, int | str | None]],
) -> None:
    """Whatever the execution times (before or after the arrival, under a second or
    seconds apart), every line is in the log in the order it arrived; a fill's line
    reads at its execution (at its arrival without a venue time) and ends `, heard`
    its arrival exactly when the two are a second or more apart and read different
    seconds; every other line reads at its arrival."""
    model = FeedModel(prefix="silvertine", clock=lambda: START_MS / 1000)
    log = EventLog()
    arrival_ms = START_MS
    expected: list[tuple[str, str]] = []
    for n, (gap_ms, offset_ms) in enumerate(events):
        arrival_ms += gap_ms
        heard_ns = arrival_ms * 1_000_000
        entry_id = f"{arrival_ms}-{n}"
        if offset_ms is None:
            model.ingest(BusEntry("silvertine:exec:paper:main", entry_id, balance_event()))
            expected.append((clock_of(heard_ns), "BALANCE "))
            continue
        executed_ns = None if offset_ms == "none" else heard_ns + int(offset_ms) * 1_000_000
        model.ingest(BusEntry("silvertine:exec:paper:main", entry_id, fill_event(n, executed_ns)))
        at, heard = clock_of(heard_ns), ""
        if executed_ns is not None:
            at = clock_of(executed_ns)
            apart = abs(heard_ns - executed_ns) >= S
            heard = f", heard {clock_of(heard_ns)}" if apart and at != clock_of(heard_ns) else ""
        expected.append((at, f"FILL BUY 1 {ETH} @ 3,400 (…0771){heard}"))
    lines = list(model.log)
    assert [line.number for line in lines] == list(range(len(events)))
    got = [(log._prefix(line, 80)[:8], line.text) for line in lines]
    assert len(got) == len(expected)
    for (at, text), (want_at, want_text) in zip(got, expected, strict=True):
        assert at == want_at, (got, expected)
        if want_text.startswith("FILL"):
            assert text == want_text, (got, expected)
        else:
            assert text.startswith(want_text), (got, expected)
            assert "heard" not in text, (got, expected)
    fills = [line.text for line in model.fills]
    assert fills == [text for _, text in expected if text.startswith("FILL")]
