"""Every fault the fake TWS injects, and what the trader sees: the broker's state and
health, the journal; and that nothing is lost or sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState, Order, OrderStatus
from silvertine_tui.events import (
    FeeCorrectionEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    QuoteEvent,
)
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk, fills, new_bus, statuses

S = OrderStatus
L = ConnectionState


async def test_1100_degrades_and_holds_orders_then_1102_reconciles_and_goes_live() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        called: list[int] = []

        async def listener() -> None:
            called.append(1)

        d.broker.on_reconnect(listener)
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.state is L.DEGRADED, "DEGRADED")
        assert "1100" in d.broker.health_state.links["ib"].detail
        journaled = len(await d.events())
        with pytest.raises(NotConnected, match="1100"):
            await d.broker.place(d.request())
        assert len(await d.events()) == journaled
        assert fake.orders == []
        await fake.connectivity_restored()
        await d.wait_live()
        await d.wait(lambda: called == [1], "one reconcile after 1102")
        assert d.broker.health_state.reconnects == 1
        health = await d.health()
        assert any("1100" in h.message for h in health)
        await d.broker.place(d.request())
        assert len(fake.orders) == 1


async def test_1101_resubscribes_market_data_and_quotes_flow_again() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.subscribe(["AAPL.SMART"])
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        asked = len(fake.requests_of(m.REQ_MKT_DATA))
        await fake.connectivity_lost()
        await fake.connectivity_restored(data_lost=True)
        await d.broker.settle()
        await d.wait_live()
        assert len(fake.requests_of(m.REQ_MKT_DATA)) == asked + 1
        await fake.set_quote("AAPL", "151.00", "151.05")
        await d.broker.settle()
        md = [e.event.payload for e in await d.bus.read(d.bus.layout.md("ib"))
              if isinstance(e.event, QuoteEvent)]  # fmt: skip
        assert md[-1].bid == Decimal("151.00")
        assert d.broker.health_state.extra["md_type:AAPL.SMART"] == "live"


async def test_farm_notices_are_information_not_errors() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.settle()
        assert d.broker.state is L.LIVE
        assert sum(d.broker.health_state.errors.values()) == 0
        assert "OK" in str(d.broker.health_state.extra["farm"])
        await fake.send_error(2104, "Market data farm connection is OK:usfarm")
        await d.broker.settle()
        assert d.broker.state is L.LIVE


async def test_326_tries_the_next_client_id() -> None:
    async with FakeTws() as fake:
        fake.reserve_client_id(1)
        async with desk(fake, client_id_fallbacks=[2, 3]) as d:
            await d.wait_live()
            assert fake.client_ids() == [2]
            assert d.broker.client_id == 2
            assert "client id 2" in d.broker.health_state.links["api"].detail
            health = await d.health()
            assert any("client id 1 is already in use" in h.message for h in health)


async def test_326_without_fallbacks_says_so_and_retries_until_the_id_is_free() -> None:
    async with FakeTws() as fake:
        fake.reserve_client_id(1)
        async with desk(fake) as d:  # connect() returns; it does not raise
            assert d.broker.state is L.DISCONNECTED
            detail = d.broker.health_state.links["api"].detail
            assert "client id 1 is already in use" in detail
            assert "client_id_fallbacks" in detail
            fake.release_client_id(1)
            await d.wait_live()
            assert fake.client_ids() == [1]


async def test_no_gateway_listening_is_disconnected_with_the_reason_and_retries() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on `port` now
    async with FakeTws() as fake, desk(fake, port=port) as d:
        assert d.broker.state is L.DISCONNECTED
        assert "no TWS or IB Gateway listening" in d.broker.health_state.links["api"].detail
        await d.wait(lambda: d.broker.health_state.errors["connect"] >= 3, "retries")
        with pytest.raises(NotConnected):
            await d.broker.place(d.request())
        assert await d.events() == []


async def test_hard_drop_fills_in_the_gap_are_journaled_exactly_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        called: list[int] = []

        async def listener() -> None:
            called.append(1)

        d.broker.on_reconnect(listener)
        first = await d.broker.place(d.request(qty="3"))
        second = await d.broker.place(d.request(qty="2", limit="149.00"))
        [a, b] = fake.orders
        await fake.fill(a.order_id, "1")
        await d.wait_journal(lambda ev: len(fills(ev)) == 1, "the first fill")
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is L.DISCONNECTED, "DISCONNECTED")
        assert "lost" in d.broker.health_state.links["api"].detail
        await fake.fill(a.order_id, "2")  # while we are away
        await fake.fill(b.order_id, "1")
        fake.release_client_id(1)
        await d.wait_live()
        events = await d.wait_journal(
            lambda ev: S.FILLED in statuses(ev, first) and len(fills(ev)) == 3, "missed fills"
        )
        counts = Counter(f.exec_id for f in fills(events))
        assert set(counts.values()) == {1}, "a fill was journaled twice"
        assert sum(f.quantity for f in fills(events, first)) == 3
        assert sum(f.quantity for f in fills(events, second)) == 1
        assert statuses(events, second)[-1] is S.PARTIALLY_FILLED
        assert called == [1]
        assert d.broker.health_state.reconnects == 1
        assert sum(isinstance(e, OrderRequestEvent) for e in events) == 2, "an order re-sent"
        assert len(fake.orders) == 2
        # The journal rebuilds the orders exactly.
        orders: dict[str, Order] = {}
        for e in events:
            if isinstance(e, OrderRequestEvent):
                orders[e.payload.client_order_id] = Order.from_request(e.payload)
            elif isinstance(e, OrderUpdateEvent):
                orders[e.payload.client_order_id].apply_update(e.payload)
            elif isinstance(e, FillEvent):
                orders[e.payload.client_order_id].apply_fill(e.payload)
        assert orders[first].status is S.FILLED
        assert orders[first].filled_qty == 3
        assert orders[second].filled_qty == 1
        [position] = await d.broker.positions()
        assert position.quantity == 4
        # Trading goes on.
        await d.broker.cancel(second)


async def test_a_duplicated_executions_replay_journals_each_fill_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3"))
        [order] = fake.orders
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is L.DISCONNECTED, "DISCONNECTED")
        await fake.fill(order.order_id, "1")
        await fake.fill(order.order_id, "2")
        fake.duplicate_next_replay(times=3)
        fake.release_client_id(1)
        await d.wait_live()
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        assert len(fills(events, coid)) == 2
        assert len({f.exec_id for f in fills(events, coid)}) == 2
        assert all(f.fee > 0 for f in fills(events, coid))


async def test_a_commission_report_before_its_execution_still_gives_the_fill_its_fee() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="300"))
        [order] = fake.orders
        fake.commission_before_execution()
        await fake.fill(order.order_id)
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        [fill] = fills(events, coid)
        assert (fill.fee, fill.fee_currency) == (Decimal("1.5"), "USD")
        assert not any(isinstance(e, FeeCorrectionEvent) for e in events)


async def test_a_late_commission_report_is_one_fee_correction_applied_once() -> None:
    async with FakeTws() as fake, desk(fake, commission_wait_s=0.05) as d:
        coid = await d.broker.place(d.request(qty="300"))
        [order] = fake.orders
        fake.hold_next_commissions(times=2)
        await fake.fill(order.order_id, "100")
        await fake.fill(order.order_id, "200")
        events = await d.wait_journal(
            lambda ev: S.FILLED in statuses(ev, coid), "FILLED without the fees"
        )
        assert d.broker.health_state.errors["fee_pending"] == 2
        await fake.release_commissions()
        events = await d.wait_journal(
            lambda ev: sum(isinstance(e, FeeCorrectionEvent) for e in ev) == 2, "corrections"
        )
        assert all(f.fee == 0 for f in fills(events, coid))
        corrections = [e.payload for e in events if isinstance(e, FeeCorrectionEvent)]
        assert {c.exec_id for c in corrections} == {f.exec_id for f in fills(events, coid)}
        assert sorted(c.fee for c in corrections) == [Decimal("1"), Decimal("1")]
        # A replay after a reconnect brings the same reports: no second correction.
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is L.DISCONNECTED, "DISCONNECTED")
        fake.release_client_id(1)
        await d.wait_live()
        await d.broker.settle()
        events = await d.events()
        assert sum(isinstance(e, FeeCorrectionEvent) for e in events) == 2
        # The order state applies each correction once.
        [request] = [e.payload for e in events if isinstance(e, OrderRequestEvent)]
        state = Order.from_request(request)
        for e in events:
            if isinstance(e, FillEvent):
                state.apply_fill(e.payload)
            elif isinstance(e, FeeCorrectionEvent):
                state.apply_fee_correction(e.payload)
                state.apply_fee_correction(e.payload)
        assert state.fees == {"USD": Decimal(2)}


async def test_delayed_market_data_is_shown_as_delayed() -> None:
    async with FakeTws(market_data="delayed") as fake, desk(fake, market_data_type="delayed") as d:
        await d.broker.subscribe(["AAPL.SMART"])
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        assert d.broker.health_state.extra["md_type:AAPL.SMART"] == "delayed"
        assert d.broker.health_state.links["market"].detail == "data: delayed"
        metrics = d.broker.health_state.as_metrics(d.broker.clock())
        assert "age_s:AAPL.SMART" in metrics


async def test_no_market_data_permission_is_shown_not_hidden() -> None:
    async with FakeTws(market_data="delayed") as fake, desk(fake) as d:  # asks for live
        await d.broker.subscribe(["AAPL.SMART"])
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        extra = d.broker.health_state.extra
        assert extra["md_type:AAPL.SMART"] == "none"
        assert "354" in str(extra["md_problem:AAPL.SMART"])
        assert d.broker.state is L.LIVE  # orders still go


async def test_a_missing_end_marker_at_connect_costs_the_timeout_not_the_session() -> None:
    async with FakeTws() as fake:
        fake.omit_next_end("completed_orders")
        async with desk(fake) as d:
            assert d.broker.state is L.LIVE
            await d.broker.place(d.request())
            assert len(fake.orders) == 1


async def test_pacing_on_the_executions_replay_is_retried() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3"))
        [order] = fake.orders
        fake.reserve_client_id(1)
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is L.DISCONNECTED, "DISCONNECTED")
        await fake.fill(order.order_id)
        fake.release_client_id(1)
        # ib_async's own start-up replay is the first; ours (the catch-up) the second.
        fake.pace_next("executions", code=420, times=2)
        await d.wait_live()
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        assert len(fills(events, coid)) == 1
        assert d.broker.health_state.errors["pacing_420"] >= 1


async def test_a_day_order_expires_at_the_new_trading_day_and_yesterdays_fills_are_gone() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        from silvertine_tui.domain import TimeInForce

        filled = await d.broker.place(d.request(qty="1", limit="150.05"))
        day = await d.broker.place(d.request(qty="1", limit="140.00", tif=TimeInForce.DAY))
        await fake.fill(fake.orders[0].order_id)
        await fake.new_trading_day()
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, day), "expired")
        assert S.FILLED in statuses(events, filled)
        report = await d.broker.reconcile()
        assert report.fills == ()  # reqExecutions covers the current day only
        assert {p.instrument: p.quantity for p in report.positions} == {"AAPL.SMART": 1}


async def test_restart_never_journals_a_fill_twice_and_catches_up_the_ones_missed() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as d:
            coid = await d.broker.place(d.request(qty="3"))
            [order] = fake.orders
            await fake.fill(order.order_id, "1")
            await d.wait_journal(lambda ev: len(fills(ev)) == 1, "a fill")
        await fake.fill(order.order_id, "2")  # while the desk is closed
        async with desk(fake, bus) as again:
            events = await again.wait_journal(
                lambda ev: S.FILLED in statuses(ev, coid), "the fill made while closed"
            )
            assert Counter(f.exec_id for f in fills(events)).most_common(1)[0][1] == 1
            assert sum(f.quantity for f in fills(events, coid)) == 3
        await bus.close()


async def test_configured_symbols_are_quoted_from_the_start_with_their_age() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        assert d.broker.health_state.links["market"].state is L.LIVE
        await fake.set_quote("AAPL", "150.00", "150.05", bid_size="300")
        await d.broker.settle()
        md = [e.event.payload for e in await d.bus.read(d.bus.layout.md("ib"))
              if isinstance(e.event, QuoteEvent)]  # fmt: skip
        assert (md[-1].instrument, md[-1].bid, md[-1].ask) == (
            "AAPL.SMART", Decimal("150.00"), Decimal("150.05"),
        )  # fmt: skip
        assert md[-1].bid_size == 300
        metrics = d.broker.health_state.as_metrics(d.broker.clock())
        assert isinstance(metrics["age_s:AAPL.SMART"], float)
        assert metrics["md_type:AAPL.SMART"] == "live"


async def test_a_paced_market_data_request_is_shown_then_asked_again() -> None:
    async with FakeTws() as fake, desk(fake, symbols=[]) as d:
        fake.pace_next("market_data", code=420)
        await d.broker.subscribe(["AAPL.SMART"])
        await d.broker.settle()
        assert "420" in str(d.broker.health_state.extra["md_problem:AAPL.SMART"])
        await d.wait(lambda: len(fake.requests_of(m.REQ_MKT_DATA)) == 2, "asked again")
        await fake.set_quote("AAPL", "150.00", "150.05")
        await d.broker.settle()
        await d.wait(
            lambda: d.broker.health_state.extra.get("md_type:AAPL.SMART") == "live", "live"
        )
        assert "md_problem:AAPL.SMART" not in d.broker.health_state.extra


async def test_a_gateway_that_starts_later_is_found_and_the_session_told() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    fake = FakeTws()
    async with desk(fake, port=port) as d:
        called: list[int] = []

        async def listener() -> None:
            called.append(1)

        d.broker.on_reconnect(listener)
        assert d.broker.state is L.DISCONNECTED
        await fake.start(port)  # TWS comes up on the configured port
        try:
            await d.wait_live()
            await d.wait(lambda: called == [1], "the session told once")
            assert d.broker.health_state.reconnects == 0  # a first connect, not a reconnect
            assert "AAPL.SMART" in await d.broker.instruments()
            await d.broker.place(d.request())
            assert len(fake.orders) == 1
        finally:
            await fake.stop()


async def test_an_account_this_login_does_not_manage_is_named_and_nothing_trades() -> None:
    async with FakeTws() as fake, desk(fake, account="U999") as d:
        assert d.broker.state is L.DISCONNECTED
        detail = d.broker.health_state.links["api"].detail
        assert "account U999 is not managed by this TWS login (it has DU123456)" in detail
        with pytest.raises(NotConnected):
            await d.broker.place(d.request())
        assert fake.orders == []


async def test_tws_notices_not_tied_to_a_request_are_shown_in_health() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.send_error(2103, "Market data farm connection is broken:usfarm")
        await fake.send_error(10197, "No market data during competing live session")
        await d.broker.settle()
        assert "broken" in str(d.broker.health_state.extra["farm"])
        assert "10197" in str(d.broker.health_state.extra["tws"])
        assert d.broker.state is L.LIVE
