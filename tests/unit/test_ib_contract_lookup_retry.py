"""A configured symbol whose contract lookup TWS does not answer in time at connect: it
dropped out of the quotes silently (an info log, taken for "not connected yet") until
the next reconnect. Now the `symbols` link names it and why, and it is asked again in
the background, then quoted. The real ib_async client against the fake TWS."""

from __future__ import annotations

import asyncio

from silvertine_tui.brokers.ib import IBBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk, ib_config, new_bus

L = ConnectionState


async def test_a_contract_lookup_that_times_out_is_said_and_retried() -> None:
    async with FakeTws() as fake:
        fake.omit_next_end("contract_details", times=2)  # AAPL's and ESZ6's at connect
        async with desk(fake, symbols=["AAPL", "ESZ6.CME"]) as d:
            health = await d.health()
            said = [
                h.metrics.get("link_detail:symbols", "")
                for h in health
                if h.metrics.get("link:symbols") == str(L.DEGRADED)
            ]
            assert any("AAPL.SMART" in s and "no answer" in s for s in said), said
            assert d.broker.health_state.errors["contract_lookup"] >= 1
            await d.wait(lambda: "AAPL.SMART" in d.broker.market.contracts, "AAPL quoted", 6)
            await d.wait(
                lambda: d.broker.health_state.links["symbols"].state is L.LIVE, "symbols LIVE"
            )
            assert "ESZ6.CME" in d.broker.market.contracts
            assert len(fake.requests_of(m.REQ_CONTRACT_DETAILS)) == 4  # each twice
            assert {"AAPL.SMART", "ESZ6.CME"} <= set(await d.broker.instruments())


async def test_a_symbol_a_later_lookup_finds_is_quoted_in_a_session() -> None:
    """In a session the engine looks the instruments up again right after the connect:
    that lookup found the symbols whose lookup had timed out and cleared them, but only
    the connect and the retry task quote: the retry found nothing left, the `symbols`
    link went LIVE, and the symbols were never quoted, said nowhere."""
    es, aapl = "ESZ6.CME", "AAPL.SMART"
    async with FakeTws() as fake:
        fake.omit_next_end("contract_details", times=2)  # both lookups of the connect
        session = Session(Settings(brokers=[ib_config(fake, symbols=["AAPL", es])]), bus=new_bus())
        await session.start()
        try:
            broker = session.engine.brokers["ib"]
            assert isinstance(broker, IBBroker)
            await fake.set_quote("AAPL", "150.00", "150.05")
            await fake.set_quote("ESZ6", "6027.25", "6027.50")
            async with asyncio.timeout(10):
                # (the session applies quotes on its own reader)
                while session.projection.last_price(aapl) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert {aapl, es} <= set(broker.market.contracts)
            assert broker.health_state.links["symbols"].state is ConnectionState.LIVE
        finally:
            await session.close()
