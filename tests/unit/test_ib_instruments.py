"""IB instruments: keys (with IB's spaces), contracts qualified on demand and cached,
tick size, multiplier, currency and trading hours from contract details."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.ib.contracts import normalize_key
from silvertine_tui.domain import (
    Instrument,
    InstrumentKind,
    OrderStatus,
    OrderType,
    TimeInForce,
    split_key,
)
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk, statuses

OPTION_KEY = "AAPL  261218C00200000.SMART"


def test_configured_symbols_become_keys() -> None:
    assert normalize_key("AAPL", "SMART") == "AAPL.SMART"
    assert normalize_key("BRK.B", "SMART") == "BRK.B.SMART"
    assert normalize_key("ESZ6.CME", "SMART") == "ESZ6.CME"
    assert normalize_key("EUR.USD.IDEALPRO", "SMART") == "EUR.USD.IDEALPRO"
    assert normalize_key("EUR.USD", "IDEALPRO") == "EUR.USD.IDEALPRO"


def test_option_keys_keep_ibs_spaces() -> None:
    assert split_key(OPTION_KEY) == ("AAPL  261218C00200000", "SMART")
    option = Instrument(
        symbol="AAPL  261218C00200000", venue="SMART", quote_currency="USD",
        tick_size=Decimal("0.01"), lot_size=Decimal(1),
    )  # fmt: skip
    assert option.key == OPTION_KEY
    assert split_key(option.key) == (option.symbol, option.venue)
    for bad in (" AAPL", "AAPL ", "AA\tPL"):
        with pytest.raises(ValidationError):
            Instrument(symbol=bad, venue="SMART", quote_currency="USD",
                       tick_size=Decimal("0.01"), lot_size=Decimal(1))  # fmt: skip
    with pytest.raises(ValueError, match=r"not SYMBOL\.VENUE"):
        split_key("AAPL.SM ART")
    with pytest.raises(ValueError, match="space"):
        split_key(" AAPL.SMART")


async def test_future_forex_crypto_and_option_are_qualified_with_their_rules() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        es = await d.broker.instrument("ESZ6.CME")
        assert (es.tick_size, es.multiplier, es.quote_currency) == (
            Decimal("0.25"), Decimal(50), "USD",
        )  # fmt: skip
        assert es.time_zone == "US/Central"
        assert es.trading_hours.startswith("20261201:0000")
        fx = await d.broker.instrument("EUR.USD.IDEALPRO")
        assert (fx.tick_size, fx.base_currency, fx.quote_currency) == (
            Decimal("0.00005"), "EUR", "USD",
        )  # fmt: skip
        btc = await d.broker.instrument("BTC.USD.PAXOS")
        assert (btc.lot_size, btc.min_qty, btc.tick_size) == (
            Decimal("0.0001"), Decimal("0.0001"), Decimal("0.25"),
        )  # fmt: skip
        option = await d.broker.instrument(OPTION_KEY)
        assert option.multiplier == 100
        assert option.key == OPTION_KEY
        aapl = await d.broker.instrument("AAPL.SMART")
        assert aapl.trading_hours
        assert aapl.time_zone == "US/Eastern"
        asked = len(fake.requests_of(m.REQ_CONTRACT_DETAILS))
        await d.broker.instrument("ESZ6.CME")  # cached: TWS is not asked again
        assert len(fake.requests_of(m.REQ_CONTRACT_DETAILS)) == asked


async def test_what_a_buy_is_and_how_ib_charges_it_come_from_the_contract() -> None:
    """A future is margined (a buy pays no notional); IB charges shares and contracts
    per unit, currencies and crypto a fraction of the trade value."""
    async with FakeTws() as fake, desk(fake) as d:
        found = {
            key: await d.broker.instrument(key)
            for key in ("ESZ6.CME", "AAPL.SMART", OPTION_KEY, "EUR.USD.IDEALPRO", "BTC.USD.PAXOS")
        }
        assert {key: (i.kind, i.margined, i.fee_per_unit) for key, i in found.items()} == {
            "ESZ6.CME": (InstrumentKind.FUTURE, True, True),
            "AAPL.SMART": (InstrumentKind.SPOT, False, True),
            OPTION_KEY: (InstrumentKind.OPTION, False, True),
            "EUR.USD.IDEALPRO": (InstrumentKind.SPOT, False, False),
            "BTC.USD.PAXOS": (InstrumentKind.SPOT, False, False),
        }
        # IB's published commission where the ticket needs one before a fill: its
        # currencies' 0.20 basis points, at least 2 USD (0.1% read 10 times too much).
        assert {key: (i.fee_rate, i.fee_minimum) for key, i in found.items()} == {
            "ESZ6.CME": (None, 0),
            "AAPL.SMART": (None, 0),
            OPTION_KEY: (None, 0),
            "EUR.USD.IDEALPRO": (Decimal("0.00002"), Decimal(2)),
            "BTC.USD.PAXOS": (None, 0),
        }


async def test_an_option_with_spaces_in_its_key_trades() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        await fake.set_quote("AAPL  261218C00200000", "4.10", "4.20")
        request = d.request(qty="2", limit="4.00", key=OPTION_KEY)
        coid = await d.broker.place(request)
        [order] = fake.orders
        assert order.spec.local_symbol == "AAPL  261218C00200000"
        assert order.ticket.order_ref == coid
        await fake.fill(order.order_id)
        events = await d.wait_journal(
            lambda ev: OrderStatus.FILLED in statuses(ev, coid), "the option filled"
        )
        [position] = [p for p in await d.broker.positions() if p.instrument == OPTION_KEY]
        assert position.quantity == 2
        assert position.avg_price is not None
        assert position.avg_price < 5
        assert statuses(events, coid)[:2] == [OrderStatus.PENDING_NEW, OrderStatus.NEW]


async def test_unknown_symbol_is_refused_before_anything_is_journaled() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        before = len(await d.events())
        with pytest.raises(OrderRejected, match="not traded"):
            await d.broker.place(d.request(key="NOPE.SMART"))
        assert len(await d.events()) == before
        assert fake.orders == []


async def test_contract_details_pacing_is_retried() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        fake.pace_next("contract_details", code=162, times=2)
        es = await d.broker.instrument("ESZ6.CME")
        assert es.tick_size == Decimal("0.25")
        assert d.broker.health_state.errors["pacing_162"] == 2


async def test_every_order_type_and_time_in_force_reaches_tws_as_asked() -> None:
    wanted = [
        (OrderType.MARKET, TimeInForce.IOC, None, None, "MKT", "IOC"),
        (OrderType.LIMIT, TimeInForce.FOK, "140.00", None, "LMT", "FOK"),
        (OrderType.STOP, TimeInForce.GTC, None, "170.00", "STP", "GTC"),
        (OrderType.STOP_LIMIT, TimeInForce.DAY, "171.00", "170.00", "STP LMT", "DAY"),
        (OrderType.LIMIT, TimeInForce.DAY, "140.00", None, "LMT", "DAY"),
    ]
    async with FakeTws() as fake, desk(fake) as d:
        for kind, tif, limit, stop, ib_type, ib_tif in wanted:
            coid = await d.broker.place(d.request(kind=kind, limit=limit, stop=stop, tif=tif))
            ticket = fake.orders[-1].ticket
            assert (ticket.order_type, ticket.tif, ticket.order_ref) == (ib_type, ib_tif, coid)
            assert ticket.account == "DU123456"
        assert fake.rejected == []
        assert not any(o.ticket.outside_rth for o in fake.orders)


async def test_outside_rth_is_asked_when_configured() -> None:
    async with FakeTws() as fake, desk(fake, outside_rth=True) as d:
        await d.broker.place(d.request())
        assert fake.orders[0].ticket.outside_rth
