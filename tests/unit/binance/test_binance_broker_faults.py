"""What the trader sees when Binance misbehaves: the user-data stream dropped, shut down
or terminated, reports twice or out of order or before the REST reply, a REST timeout
after the order was taken, an unreachable venue. Nothing is lost, nothing published twice.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout, NotConnected, RateLimited
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.domain import ConnectionState, MarketDataKind, OrderStatus, OrderType, Side
from silvertine_tui.events import BookEvent, HealthEvent, QuoteEvent
from silvertine_tui.ui.widgets.health import rate_limit_text
from tests.contract.test_broker_contract import fills, replay_orders, statuses, updates
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import (
    DEFAULT_SYMBOLS,
    BinanceDriver,
    Session,
    binance_session,
    build_broker,
    quick_library_timings,
)
from tests.unit.binance.test_binance_broker_orders import (
    KEY,
    ended,
    once_each,
    req,
    settled,
    wait_for,
)

S = OrderStatus
D = Decimal
LIVE = ConnectionState.LIVE


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 4.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def user_link_history(s: Session) -> list[tuple[str, str]]:
    """(state, detail) of the "user" link as the health pane saw it, without repeats."""
    seen: list[tuple[str, str]] = []
    for entry in await s.bus.read(s.bus.layout.health):
        event = entry.event
        if not isinstance(event, HealthEvent) or event.payload.component != s.broker.component:
            continue
        metrics = event.payload.metrics
        now = (str(metrics.get("link:user")), str(metrics.get("link_detail:user", "")))
        if not seen or seen[-1] != now:
            seen.append(now)
    return seen


async def resting_order(s: Session) -> str:
    coid = await s.broker.place(req(s, qty="0.5"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    return coid


def count_reconnects(s: Session) -> list[int]:
    calls: list[int] = []

    async def listener() -> None:
        calls.append(1)

    s.broker.on_reconnect(listener)
    return calls


# -- the user-data stream ----------------------------------------------------------------


async def test_a_dropped_user_stream_is_rebuilt_and_missed_fills_published_once(
    s: Session,
) -> None:
    coid = await resting_order(s)
    other = await resting_order(s)
    reconnects = count_reconnects(s)
    await s.driver.drop_connection()  # and refuse reconnects for now
    await wait_until(lambda: s.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
    journaled = len(await s.events())
    with pytest.raises(NotConnected, match="DISCONNECTED"):
        await s.broker.place(req(s))
    assert len(await s.events()) == journaled
    # A cancel needs only REST, which answers: it goes, its outcome journaled from
    # Binance's reply (docs/operations.md, Links).
    await s.broker.cancel(other)
    assert s.fake.order_by_client_id(other).status == "CANCELED"
    assert statuses(await s.events(), other)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    # The venue trades while we are away: its report is lost on the dead socket.
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    assert fills(await s.events(), coid) == []
    await s.driver.restore_connection()
    await wait_until(lambda: s.broker.state is LIVE, "LIVE again")
    events = await wait_for(s, ended(coid, S.FILLED), "the missed fill")
    [fill] = fills(events, coid)
    assert fill.quantity == D("0.5")
    assert reconnects == [1]
    assert s.broker.health_state.reconnects == 1
    history = await user_link_history(s)
    states = [state for state, _ in history]
    assert states[-3:] == ["DISCONNECTED", "RECONCILING", "LIVE"], history
    assert any("connection lost" in detail for _, detail in history), history
    # Trading works on the rebuilt stream, and nothing is published twice.
    again = await resting_order(s)
    await s.fake.fill(s.fake.order_by_client_id(again).order_id)
    await wait_for(s, ended(again, S.FILLED), "FILLED over the new subscription")
    events = await settled(s)
    once_each(events, coid)
    once_each(events, other)
    once_each(events, again)


async def test_server_shutdown_is_seen_as_the_close_and_recovered(s: Session) -> None:
    coid = await resting_order(s)
    reconnects = count_reconnects(s)
    await s.fake.send_server_shutdown(close_after=0.05)
    await wait_until(lambda: reconnects == [1] and s.broker.state is LIVE, "the recovery")
    history = await user_link_history(s)
    assert any("closed the user-data connection" in d for _, d in history), history
    assert s.fake.user_subscriptions() == 1
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED after the shutdown")
    once_each(events, coid)


async def test_event_stream_terminated_resubscribes(s: Session) -> None:
    coid = await resting_order(s)
    reconnects = count_reconnects(s)
    await s.fake.terminate_event_streams()
    await wait_until(lambda: reconnects == [1] and s.broker.state is LIVE, "the recovery")
    history = await user_link_history(s)
    assert any("eventStreamTerminated" in d for _, d in history), history
    assert s.fake.user_subscriptions() == 1
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED after the resubscription")
    once_each(events, coid)


async def test_the_client_is_rebuilt_every_few_stream_rebuilds() -> None:
    async with binance_session(rebuilds_per_client=2) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        first_client = s.broker.rest.client
        for n in (1, 2):
            await s.fake.terminate_event_streams()
            await wait_until(
                lambda n=n: s.broker.user.rebuilds == n and s.broker.state is LIVE,  # type: ignore[misc]
                f"rebuild {n}",
            )
        assert s.broker.user.client_restarts == 1
        assert s.broker.rest.client is not first_client
        coid = await resting_order(s)
        await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
        await wait_for(s, ended(coid, S.FILLED), "FILLED on the new client")


async def test_the_client_is_rebuilt_after_a_few_failed_resubscribes_in_a_row() -> None:
    """A client whose WebSocket API is stuck fails every subscribe: it is rebuilt after
    `failures_per_client` (3) failures in a row, not only at every 20th rebuild, which
    with the growing pause would leave the user stream down for minutes."""
    async with binance_session() as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        first_client = s.broker.rest.client
        assert s.broker.user.rebuilds_per_client == 20
        await s.driver.drop_connection()
        await wait_until(
            lambda: s.broker.user.client_restarts >= 1, "a client rebuilt while refused"
        )
        assert s.broker.user.rebuilds < s.broker.user.rebuilds_per_client
        assert s.broker.rest.client is not first_client
        await s.driver.restore_connection()
        await wait_until(lambda: s.broker.state is LIVE, "LIVE again")
        coid = await resting_order(s)
        await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
        await wait_for(s, ended(coid, S.FILLED), "FILLED on the new client")


# -- reports: duplicated, reordered, early ---------------------------------------------------


async def test_duplicated_reports_are_published_once(s: Session) -> None:
    s.fake.duplicate_next_reports(100)
    coid = await resting_order(s)
    order_id = s.fake.order_by_client_id(coid).order_id
    await s.fake.fill(order_id, "0.2")
    await s.fake.fill(order_id)
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    sent = Counter(
        (e["c"], e["x"], e["z"]) for e in s.fake.sent_user_events if e["e"] == "executionReport"
    )
    assert max(sent.values()) == 2, "the fake did not duplicate"
    assert statuses(events, coid) == [
        S.PENDING_NEW,
        S.NEW,
        S.PARTIALLY_FILLED,
        S.FILLED,
    ]
    once_each(events, coid)


async def test_reordered_reports_never_move_an_order_backwards(s: Session) -> None:
    coid = await resting_order(s)
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.reorder_next_reports(2)
    await s.fake.fill(order_id, "0.2")
    await s.fake.fill(order_id)  # both reports go now, the FILLED one first
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    sent = [e["X"] for e in s.fake.sent_user_events if e["e"] == "executionReport"]
    assert sent[-2:] == ["FILLED", "PARTIALLY_FILLED"], "the fake did not reorder"
    assert statuses(events, coid)[-1] is S.FILLED
    assert sum(f.quantity for f in fills(events, coid)) == D("0.5")
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))
    once_each(events, coid)


async def test_a_report_before_the_rest_reply_is_published_once(s: Session) -> None:
    s.fake.report_before_reply(delay=0.1)
    coid = await s.broker.place(req(s))
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW]
    assert updates(events, coid)[1].venue_order_id == str(s.fake.order_by_client_id(coid).order_id)


async def test_a_rest_timeout_after_the_order_was_taken_is_resolved_not_resent() -> None:
    async with binance_session(request_timeout_s=0.5) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        s.fake.swallow_next_order_reply()
        request = req(s)
        with pytest.raises(BrokerTimeout, match=r"do not send it again|unknown|not know"):
            await s.broker.place(request)
        coid = request.client_order_id
        events = await wait_for(s, ended(coid, S.NEW), "NEW from the venue")
        assert s.fake.requests.count(("POST", "/api/v3/order")) == 1, "the order was re-sent"
        venue = await s.broker.query_order(coid)
        assert venue is not None
        assert venue.status is S.NEW
        await asyncio.sleep(0.3)  # the background query has answered too
        events = await settled(s)
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW], "the NEW was published twice"
        await s.fake.fill(s.fake.order_by_client_id(coid).order_id)
        events = await wait_for(s, ended(coid, S.FILLED), "FILLED")
        once_each(events, coid)


# -- connecting and closing ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_venue_does_not_fail_connect_and_is_retried() -> None:
    with quick_library_timings():
        bus = MemoryBus(BusOptions(prefix="binance-unreachable", block_ms=50))
        await bus.start()
        port = free_port()
        absent = FakeBinance(port=port)  # not started: nothing listens yet
        absent._port = port
        broker = build_broker(absent, bus, ["ETHUSDT"])
        calls: list[int] = []

        async def listener() -> None:
            calls.append(1)

        broker.on_reconnect(listener)
        try:
            await broker.connect()  # does not raise
            assert broker.state is ConnectionState.DISCONNECTED
            rest = broker.health_state.links["rest"]
            assert rest.state is ConnectionState.DISCONNECTED
            assert f"127.0.0.1:{port}" in rest.detail
            assert "retrying" in rest.detail
            with pytest.raises(NotConnected):
                await broker.place(
                    req(Session(absent, bus, broker, None), Side.BUY)  # type: ignore[arg-type]
                )
            async with FakeBinance(port=port, symbols=DEFAULT_SYMBOLS, balances={"USDT": "100"}):
                await wait_until(lambda: broker.state is LIVE, "LIVE once the venue is up")
                assert calls == [1]
                assert {b.currency for b in await broker.balances()} == {"USDT"}
                started = time.monotonic()
                await broker.close()
                assert time.monotonic() - started < 1.0
        finally:
            await broker.close()
            await bus.close()


async def test_close_stops_everything_within_a_second(s: Session) -> None:
    await s.broker.subscribe([KEY], [MarketDataKind.QUOTE, MarketDataKind.BOOK])
    await s.fake.wait_for_stream("ethusdt@bookTicker")
    await resting_order(s)
    started = time.monotonic()
    await s.broker.close()
    assert time.monotonic() - started < 1.0
    assert not s.broker.user.running
    assert s.broker.state is ConnectionState.DISCONNECTED


async def test_subscribed_quotes_are_published(s: Session) -> None:
    await s.broker.subscribe([KEY], [MarketDataKind.QUOTE])
    await s.fake.wait_for_stream("ethusdt@bookTicker")
    await s.fake.set_quote("ETHUSDT", "1998.5", "2000.5")
    md = s.bus.layout.md(s.broker.name)

    async def quoted() -> list[QuoteEvent]:
        return [e.event for e in await s.bus.read(md) if isinstance(e.event, QuoteEvent)]

    deadline = time.monotonic() + 3
    while not await quoted():
        assert time.monotonic() < deadline, "no quote published"
        await asyncio.sleep(0.01)
    quote = (await quoted())[-1].payload
    assert (quote.instrument, quote.bid, quote.ask) == (KEY, D("1998.5"), D("2000.5"))
    assert s.broker.health_state.links["market"].state is LIVE


async def test_a_ban_shows_on_the_rest_link_with_a_countdown(s: Session) -> None:
    coid = await resting_order(s)
    s.fake.faults.ban_s = 1.0
    s.fake.faults.banned_until = time.monotonic() + 1.0  # Binance answers 418 for 1 s
    with pytest.raises(RateLimited, match="banned"):
        await s.broker.balances()
    await s.broker.publish_health()
    rest = s.broker.health_state.links["rest"]
    assert rest.state is ConnectionState.DEGRADED
    assert "banned this IP" in rest.detail
    with pytest.raises(NotConnected, match="order path is down"):
        await s.broker.place(req(s))
    # Nor a cancel: a banned client sends nothing, and a cancel journaled now would
    # show PENDING_CANCEL for one that never went (a DEGRADED link carries cancels
    # only where the adapter says so: IB's).
    journaled = len(await s.events())
    with pytest.raises(NotConnected, match="order path is down"):
        await s.broker.cancel(coid)
    assert len(await s.events()) == journaled
    await wait_until(
        lambda: s.broker.health_state.links["rest"].state is LIVE, "LIVE after the ban", 3.0
    )
    assert s.broker.state is LIVE
    assert {b.currency for b in await s.broker.balances()} >= {"USDT"}


async def test_after_a_restart_open_orders_are_known_and_missed_fills_keep_our_ids(
    s: Session,
) -> None:
    since = time.time_ns()
    working = await resting_order(s)
    filled_away = await resting_order(s)
    await s.broker.close()
    # While we are down: one order fills, the other takes a partial fill.
    await s.fake.fill(s.fake.order_by_client_id(filled_away).order_id)
    await s.fake.fill(s.fake.order_by_client_id(working).order_id, "0.2")
    again = build_broker(s.fake, s.bus, ["ETHUSDT"])
    try:
        await again.connect()
        assert again.state is LIVE
        assert again.knows_order(working)
        report = await again.reconcile(since)
        by_order = {f.client_order_id for f in report.fills}
        assert by_order == {working, filled_away}, "a fill lost its client order id"
        [open_order] = report.open_orders
        assert (open_order.client_order_id, open_order.filled_qty) == (working, D("0.2"))
        # The adopted order is modified knowing what filled: 0.2 of 0.5 so far.
        await again.modify(working, quantity=D("0.6"))
        new = [o for o in s.fake.orders.values() if o.client_order_id == working][-1]
        assert new.orig_qty == D("0.4")
        await again.cancel(working)
        assert s.fake.order_by_client_id(working).status == "CANCELED"
    finally:
        await again.close()


async def test_a_modify_after_a_restart_journals_the_new_terms(s: Session) -> None:
    """The order a restarted desk finds open at the venue is moved (cancel-replace): the
    journal ends NEW at the new price under the new venue id, never stuck at
    PENDING_REPLACE with the old price while the venue works the new one."""
    coid = await resting_order(s)
    old_id = s.fake.order_by_client_id(coid).order_id
    await s.broker.close()
    again = build_broker(s.fake, s.bus, ["ETHUSDT"])
    try:
        await again.connect()
        await again.reconcile(0)
        await again.modify(coid, limit_price=D("1985"))
        again_driver = BinanceDriver(s.fake, again, "ETHUSDT")
        await again_driver.settle()
        events = await s.events()
        assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
        answer = updates(events, coid)[-1]
        assert answer.limit_price == D("1985")
        assert answer.venue_order_id not in (None, str(old_id))
        orders, _ = replay_orders(events)
        assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D("1985"))
        # And a second move from there, as the trader nudges it again.
        await again.modify(coid, limit_price=D("1980"))
        await again_driver.settle()
        orders, _ = replay_orders(await s.events())
        assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D("1980"))
    finally:
        await again.close()


async def test_a_post_only_order_found_after_a_restart_stays_post_only_when_moved(
    s: Session,
) -> None:
    """Binance's LIMIT_MAKER read back as a plain LIMIT: a restarted desk moving a
    post-only order sent its replacement as LIMIT GTC, which may take liquidity."""
    coid = await s.broker.place(req(s, qty="0.5", post_only=True))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    assert s.fake.order_by_client_id(coid).type == "LIMIT_MAKER"
    await s.broker.close()
    again = build_broker(s.fake, s.bus, ["ETHUSDT"])
    try:
        await again.connect()
        report = await again.reconcile(0)
        [found] = report.open_orders
        assert (found.order_type, found.post_only) == (OrderType.LIMIT, True)
        await again.modify(coid, limit_price=D("1985"))
        venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
        assert [(o.status, o.type, o.price) for o in venue] == [
            ("CANCELED", "LIMIT_MAKER", D(1990)),
            ("NEW", "LIMIT_MAKER", D(1985)),
        ]
    finally:
        await again.close()


async def test_close_while_the_user_stream_is_being_rebuilt_is_bounded(s: Session) -> None:
    await s.driver.drop_connection()  # reconnects refused: the library keeps trying
    await wait_until(lambda: s.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
    await asyncio.sleep(0.1)  # in the middle of a rebuild attempt
    started = time.monotonic()
    await s.broker.close()
    assert time.monotonic() - started < 1.5
    assert not s.broker.user.running


async def test_orders_can_go_on_rest_alone_when_the_config_says_so() -> None:
    """`orders_need_user_stream: false`: a dead user-data stream leaves the account
    DEGRADED, not DISCONNECTED, and an order still goes out (and is journaled once);
    its report arrives once the stream is back."""
    async with binance_session(balances={"USDT": "10000"}, orders_need_user_stream=False) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await s.driver.drop_connection()
        await wait_until(
            lambda: s.broker.health_state.links["user"].state is ConnectionState.DISCONNECTED,
            "the user link down",
        )
        assert s.broker.state is ConnectionState.DEGRADED
        coid = await s.broker.place(req(s, qty="0.5"))
        assert s.fake.order_by_client_id(coid).status == "NEW"
        await s.driver.restore_connection()
        await wait_until(lambda: s.broker.state is LIVE, "LIVE again")
        events = await wait_for(s, ended(coid, S.NEW), "the order's NEW after the stream is back")
        once_each(events, coid)


async def test_health_shows_the_share_of_each_limit_used(s: Session) -> None:
    """The rate line reads as shares of Binance's limits (one order of 100 in 10 s is
    1%, not 100%); the counts and the ban countdown ride along as plain metrics.

    Request weight counts per clock minute and reads 0 once its minute is over (as
    Binance's does): the order and the health that reports its weight go in one minute
    (CI once sent the order at second 59, and the health read 0)."""
    while s.fake.server_time() % 60_000 > 45_000:  # noqa: ASYNC110 - the wall clock
        await asyncio.sleep(0.5)
    minute = s.fake.server_time() // 60_000
    await resting_order(s)
    await s.broker.publish_health()
    [*_, last] = [
        e.event
        for e in await s.bus.read(s.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == s.broker.component
    ]
    metrics = last.payload.metrics
    assert s.fake.server_time() // 60_000 == minute, "the steps took over 15 s"
    assert metrics["rate:orders_10s"] == pytest.approx(1 / 100)
    assert 0 < float(metrics["rate:weight_1m"] or 0) < 0.1
    assert (metrics["orders_10s"], metrics["banned_s"]) == (1, 0)
    assert rate_limit_text(metrics) == (
        f"orders_10s 1%, weight_1m {float(metrics['rate:weight_1m'] or 0) * 100:.0f}%"
    )


async def test_a_book_gap_is_resynced_and_shown(s: Session) -> None:
    """Binance's diff-depth chain skips an update: the book is rebuilt from a snapshot
    and the trader is told (the health message), not only a counter."""
    await s.broker.subscribe([KEY], [MarketDataKind.BOOK])
    await s.driver.set_book([(Decimal("1999"), Decimal("5"))], [(Decimal("2001"), Decimal("5"))])
    deadline = time.monotonic() + 4.0
    while not [
        e for e in await s.bus.read(s.bus.layout.md("binance")) if isinstance(e.event, BookEvent)
    ]:
        assert time.monotonic() < deadline, "no book before the gap"
        await asyncio.sleep(0.02)
    s.fake.drop_next_depth_update("ETHUSDT")
    await s.driver.set_book([(Decimal("1998"), Decimal("4"))], [(Decimal("2002"), Decimal("4"))])
    await s.driver.set_book([(Decimal("1997"), Decimal("3"))], [(Decimal("2003"), Decimal("3"))])

    async def gap_messages() -> list[str]:
        return [
            e.event.payload.message
            for e in await s.bus.read(s.bus.layout.health)
            if isinstance(e.event, HealthEvent)
            and e.event.payload.component == s.broker.component
            and "missed book updates" in e.event.payload.message
        ]

    deadline = time.monotonic() + 4.0
    while not await gap_messages():
        assert time.monotonic() < deadline, "no gap shown"
        await asyncio.sleep(0.02)
    [message, *_] = await gap_messages()
    assert message.startswith(f"market: {KEY}: missed book updates"), message
    assert s.broker.health_state.errors["book_gap"] >= 1
