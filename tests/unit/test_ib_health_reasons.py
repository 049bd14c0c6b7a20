"""What the health pane says about IB: a configured symbol TWS has no contract for is
named (not silently missing), and a client id in use (326) is said at once, with the
fallback id tried without waiting out the handshake timeout. Against the fake TWS."""

from __future__ import annotations

import time

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk

L = ConnectionState


async def test_a_configured_symbol_tws_does_not_know_is_named_in_health() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "MSFT"]) as d:
        link = d.broker.health_state.links["symbols"]
        assert link.state is L.DEGRADED
        assert "MSFT.SMART" in link.detail
        assert "200" in link.detail
        assert "check `symbols` in the config" in link.detail
        # The broker says so (DEGRADED: a toast and a log line on the desk) ...
        assert d.broker.state is L.DEGRADED
        health = await d.health()
        assert any("MSFT.SMART" in h.message for h in health)
        assert health[-1].metrics["link_detail:symbols"] == link.detail
        # ... and the symbols it knows still trade and are quoted.
        assert "AAPL.SMART" in await d.broker.instruments()
        coid = await d.broker.place(d.request())
        assert d.broker.knows_order(coid)
        assert len(fake.requests_of(m.PLACE_ORDER)) == 1


async def test_326_is_said_at_once_and_the_fallback_id_is_tried_without_the_timeout() -> None:
    async with FakeTws() as fake:
        fake.reserve_client_id(1)
        started = time.monotonic()
        async with desk(fake, client_id_fallbacks=[11], connect_timeout_s=5) as d:
            # connect() returned once client id 1 was refused, not after 5 s.
            assert time.monotonic() - started < 2.5
            await d.wait_live()
            assert time.monotonic() - started < 2.5
            assert d.broker.client_id == 11
            assert "symbols" not in d.broker.health_state.links  # AAPL is known
            messages = [h.message for h in await d.health()]
            reason = "client id 1 is already in use at TWS (326); trying client id 11"
            assert any(reason in message for message in messages), messages


async def test_1100_says_what_happened_without_a_promise_it_does_not_keep() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.state is L.DEGRADED, "DEGRADED")
        # Orders are refused meanwhile, not held: the reason says only what happened
        # (the ticket and the refusal say what to do).
        assert d.broker.order_path_down() == "ib DEGRADED: TWS lost its connection to IB (1100)"
        with pytest.raises(
            NotConnected, match=r"\(ib DEGRADED: TWS lost its connection to IB \(1100\)\)"
        ):
            await d.broker.place(d.request())
