"""The fake TWS's frames, fed through ib_async's own `Decoder` at server version 178.

Every message kind is decoded and checked field by field, with sentinels near the end of
the long messages (openOrder, completedOrder, contractDetails): if an ib_async upgrade
moves a field, these fail loudly. The other direction too: what ib_async's `Client`
writes for placeOrder, reqContractDetails and reqExecutions is what the fake parses.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from ib_async import Contract, ExecutionFilter, LimitOrder, StopLimitOrder
from ib_async.client import Client
from ib_async.decoder import Decoder
from ib_async.util import UNSET_DOUBLE, UNSET_INTEGER

from tests.fakes.tws import CRYPTO, FOREX, FUTURE, OPTION, STOCK, ContractSpec
from tests.fakes.tws import messages as m
from tests.fakes.tws.contracts import ContractQuery
from tests.fakes.tws.exchange import Execution, Order, Position, Ticket
from tests.fakes.tws.framing import FrameReader, encode_frame, field_text
from tests.fakes.tws.server import parse_filter_time, parse_ticket

WHEN = datetime(2026, 12, 1, 14, 30, 5, tzinfo=UTC)


class Recorder:
    """A stand-in for ib_async's Wrapper that records each callback the decoder makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.ib = SimpleNamespace(TimezoneTWS=None)
        self.defaultTimezone = UTC

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def decode(fields: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """Encode with the fake, split as ib_async's client does, decode with its Decoder."""
    frame = encode_frame(fields)
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    parts = frame[4:].decode().split("\0")
    assert parts.pop() == ""
    recorder = Recorder()
    decoder: Any = Decoder  # ib_async's classes are untyped
    decoder(recorder, m.SERVER_VERSION).interpret(parts)
    assert len(recorder.calls) == 1, f"decoder made {recorder.calls} for {parts[:3]}"
    return recorder.calls[0]


def sample_order(spec: ContractSpec = STOCK, **ticket: Any) -> Order:
    fields: dict[str, Any] = {
        "action": "BUY",
        "quantity": Decimal("10"),
        "order_type": "STP LMT",
        "limit_price": Decimal("150.25"),
        "stop_price": Decimal("150.5"),
        "tif": "GTC",
        "order_ref": "sv-42",
        "account": "DU123456",
        "outside_rth": True,
    }
    fields.update(ticket)
    order = Order(1_500_000_007, 3, 17, spec, Ticket(**fields))
    order.filled = Decimal("4")
    order.avg_fill_price = Decimal("150.125")
    order.last_fill_price = Decimal("150")
    return order


def sample_execution(order: Order, realized: Decimal | None = None) -> Execution:
    return Execution(
        exec_id="0000e0d5.659f5b5a.01.01",
        order=order,
        side="BOT",
        shares=Decimal("4"),
        price=Decimal("150.125"),
        time=WHEN,
        cum_qty=Decimal("4"),
        avg_price=Decimal("150.125"),
        liquidity=2,
        commission=Decimal("1.0"),
        commission_currency="USD",
        realized_pnl=realized,
    )


def assert_contract(contract: Any, spec: ContractSpec, *, exchange: str | None = None) -> None:
    assert contract.conId == spec.con_id
    assert contract.symbol == spec.symbol
    assert contract.secType == spec.sec_type
    assert contract.lastTradeDateOrContractMonth == spec.last_trade_date
    assert contract.strike == float(spec.strike)
    assert contract.right == spec.right
    assert contract.multiplier == spec.multiplier
    assert contract.currency == spec.currency
    assert contract.localSymbol == spec.local_symbol
    assert contract.tradingClass == spec.trading_class
    if exchange is not None:
        assert contract.exchange == exchange


# ------------------------------------------------------------------ framing


def test_framing_reads_the_api_prefix_then_frames_split_anywhere() -> None:
    greeting = b"API\0" + struct.pack(">I", 9) + b"v157..178"
    stream = greeting + encode_frame([71, 2, 7, ""]) + encode_frame([61, 1])
    reader = FrameReader()
    frames: list[list[str]] = []
    for i in range(len(stream)):  # byte by byte: no frame boundary is assumed
        frames += reader.feed(stream[i : i + 1])
    assert reader.version_range == "v157..178"
    assert frames == [["71", "2", "7", ""], ["61", "1"]]


def test_fields_are_written_as_tws_writes_them() -> None:
    assert [field_text(v) for v in (True, False, None, Decimal("1E+2"), Decimal("0.00005"))] == [
        "1",
        "0",
        "",
        "100",
        "0.00005",
    ]


# ---------------------------------------------------- simple messages, by kind

SIMPLE = [
    (m.next_valid_id(42), "nextValidId", (42,)),
    (m.managed_accounts(["DU1", "DU2"]), "managedAccounts", ("DU1,DU2",)),
    (m.error(7, 202, "Canceled - reason:"), "error", (7, 202, "Canceled - reason:", "")),
    (m.error(-1, 1100, "lost", '{"x":1}'), "error", (-1, 1100, "lost", '{"x":1}')),
    (m.current_time(1796091672), "currentTime", (1796091672,)),
    (m.open_order_end(), "openOrderEnd", ()),
    (m.completed_orders_end(), "completedOrdersEnd", ()),
    (m.exec_details_end(9), "execDetailsEnd", (9,)),
    (m.contract_details_end(5), "contractDetailsEnd", (5,)),
    (m.position_end(), "positionEnd", ()),
    (m.account_value("NetLiquidation", "1.50", "USD", "DU1"), "updateAccountValue",
     ("NetLiquidation", "1.50", "USD", "DU1")),
    (m.account_time(WHEN), "updateAccountTime", ("14:30",)),
    (m.account_download_end("DU1"), "accountDownloadEnd", ("DU1",)),
    (m.account_update_multi(4, "DU1", "CashBalance", "10.00", "EUR"), "accountUpdateMulti",
     (4, "DU1", "", "CashBalance", "10.00", "EUR")),
    (m.account_update_multi_end(4), "accountUpdateMultiEnd", (4,)),
    (m.market_data_type(3, 3), "marketDataType", (3, 3)),
    (m.tick_price(3, m.BID, Decimal("150.05"), Decimal("200")), "priceSizeTick",
     (3, 1, 150.05, 200.0)),
    (m.tick_price(3, 68, Decimal("1.08"), Decimal("0")), "priceSizeTick", (3, 68, 1.08, 0.0)),
    (m.tick_price(3, m.CLOSE, Decimal("149.80"), Decimal("0")), "priceSizeTick",
     (3, 9, 149.8, 0.0)),
    (m.tick_size(3, m.ASK_SIZE, Decimal("12")), "tickSize", (3, 3, 12.0)),
    ([57, 1, 8], "tickSnapshotEnd", (8,)),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "method", "args"), SIMPLE)
def test_simple_messages_decode_to_the_callback_and_arguments(
    fields: list[Any], method: str, args: tuple[Any, ...]
) -> None:
    assert decode(fields) == (method, args)


# ----------------------------------------------------------------- orders


def test_order_status_decodes_every_field() -> None:
    order = sample_order()
    name, args = decode(m.order_status(order))
    assert name == "orderStatus"
    assert args == (17, "Submitted", 4.0, 6.0, 150.125, 1_500_000_007, 0, 150.0, 3, "", 0.0)


@pytest.mark.parametrize("spec", [STOCK, FUTURE, FOREX, CRYPTO, OPTION], ids=lambda s: s.sec_type)
def test_open_order_decodes_field_by_field(spec: ContractSpec) -> None:
    order = sample_order(spec)
    fields = m.open_order(order)
    assert len(fields) == 127  # ib_async 2.1.0 reads 127 fields at version 178
    name, (order_id, contract, o, state) = decode(fields)
    assert name == "openOrder"
    assert order_id == o.orderId == 17
    assert_contract(contract, spec, exchange=spec.exchange)
    assert (o.clientId, o.permId, o.action, o.totalQuantity) == (3, 1_500_000_007, "BUY", 10.0)
    assert (o.orderType, o.lmtPrice, o.auxPrice, o.tif) == ("STP LMT", 150.25, 150.5, "GTC")
    assert (o.account, o.orderRef, o.outsideRth, o.hidden) == ("DU123456", "sv-42", True, False)
    assert (o.openClose, o.origin, o.exemptCode, o.parentId) == ("", 0, -1, 0)
    assert o.volatility == UNSET_DOUBLE
    assert o.minQty == UNSET_INTEGER
    assert contract.comboLegs == []
    assert o.orderComboLegs == []
    assert o.conditions == []
    assert contract.deltaNeutralContract is None
    assert o.algoStrategy == ""
    assert state.status == "Submitted"
    assert state.commission == UNSET_DOUBLE
    # sentinels in the last blocks: a shifted field lands here
    assert o.adjustedOrderType == "None"
    assert o.usePriceMgmtAlgo is False
    assert o.duration == UNSET_INTEGER
    assert o.minTradeQty == UNSET_INTEGER
    assert o.midOffsetAtHalf == UNSET_DOUBLE


def test_open_order_market_order_has_unset_prices() -> None:
    order = sample_order(order_type="MKT", limit_price=None, stop_price=None, tif="IOC")
    _, (_, _, o, _) = decode(m.open_order(order))
    assert (o.orderType, o.tif) == ("MKT", "IOC")
    assert o.lmtPrice == UNSET_DOUBLE
    assert o.auxPrice == UNSET_DOUBLE


def test_completed_order_decodes_field_by_field() -> None:
    order = sample_order(OPTION)
    order.status = "Filled"
    order.filled = Decimal("10")
    order.completed_time = "20261201 14:30:05 UTC"
    order.completed_status = "Filled Size: 10"
    fields = m.completed_order(order)
    assert len(fields) == 96
    name, (contract, o, state) = decode(fields)
    assert name == "completedOrder"
    assert_contract(contract, OPTION, exchange="SMART")
    assert contract.localSymbol == "AAPL  261218C00200000"
    assert (o.orderId, o.clientId, o.permId) == (0, 0, 1_500_000_007)  # TWS sends neither id
    assert (o.action, o.totalQuantity, o.orderType, o.lmtPrice, o.auxPrice) == (
        "BUY",
        10.0,
        "STP LMT",
        150.25,
        150.5,
    )
    assert (o.tif, o.orderRef, o.account, o.outsideRth) == ("GTC", "sv-42", "DU123456", True)
    assert state.status == "Filled"
    assert o.filledQuantity == 10.0
    assert o.parentPermId == 0
    assert state.completedTime == "20261201 14:30:05 UTC"
    assert state.completedStatus == "Filled Size: 10"
    assert o.minTradeQty == UNSET_INTEGER


# ------------------------------------------------------------- executions


def test_exec_details_decodes_field_by_field() -> None:
    order = sample_order(FUTURE)
    name, (req_id, contract, ex) = decode(m.exec_details(-1, sample_execution(order), "DU9"))
    assert name == "execDetails"
    assert req_id == -1
    assert_contract(contract, FUTURE, exchange="CME")
    assert (ex.orderId, ex.execId, ex.acctNumber, ex.exchange) == (
        17,
        "0000e0d5.659f5b5a.01.01",
        "DU9",
        "CME",
    )
    assert (ex.side, ex.shares, ex.price, ex.permId, ex.clientId) == (
        "BOT",
        4.0,
        150.125,
        1_500_000_007,
        3,
    )
    assert (ex.liquidation, ex.cumQty, ex.avgPrice, ex.orderRef) == (0, 4.0, 150.125, "sv-42")
    assert (ex.lastLiquidity, ex.pendingPriceRevision) == (2, False)
    assert ex.time == WHEN


def test_exec_details_reports_the_venue_not_smart() -> None:
    _, (_, contract, ex) = decode(m.exec_details(5, sample_execution(sample_order()), "DU9"))
    assert contract.exchange == "SMART"
    assert ex.exchange == "NASDAQ"


def test_commission_report_with_and_without_realized_pnl() -> None:
    order = sample_order()
    name, (report,) = decode(m.commission_report(sample_execution(order)))
    assert name == "commissionReport"
    assert (report.execId, report.commission, report.currency) == (
        "0000e0d5.659f5b5a.01.01",
        1.0,
        "USD",
    )
    assert report.realizedPNL == UNSET_DOUBLE
    assert report.yield_ == UNSET_DOUBLE
    _, (closing,) = decode(m.commission_report(sample_execution(order, Decimal("-12.5"))))
    assert closing.realizedPNL == -12.5


# -------------------------------------------------------------- contracts


@pytest.mark.parametrize("spec", [STOCK, FUTURE, FOREX, CRYPTO, OPTION], ids=lambda s: s.sec_type)
def test_contract_details_decode_field_by_field(spec: ContractSpec) -> None:
    fields = m.contract_details(8, spec)
    assert len(fields) == 40
    name, (req_id, cd) = decode(fields)
    assert name == "contractDetails"
    assert req_id == 8
    c = cd.contract
    assert_contract(c, spec, exchange=spec.exchange)
    assert c.primaryExchange == spec.primary_exchange
    assert cd.minTick == float(spec.min_tick)
    assert (cd.orderTypes, cd.validExchanges, cd.longName) == (
        spec.order_types,
        spec.valid_exchanges,
        spec.long_name,
    )
    assert (cd.timeZoneId, cd.tradingHours, cd.liquidHours) == (
        spec.time_zone_id,
        spec.trading_hours,
        spec.liquid_hours,
    )
    assert cd.marketRuleIds == spec.market_rule_ids
    assert cd.realExpirationDate == spec.last_trade_date
    # sentinels at the end: the size fields of version >= 164
    assert (cd.minSize, cd.sizeIncrement, cd.suggestedSizeIncrement) == (
        float(spec.min_size),
        float(spec.size_increment),
        float(spec.size_increment),
    )


# ---------------------------------------------------- positions and account


def test_position_decodes_field_by_field() -> None:
    pos = Position(Decimal("-3"), Decimal("251234.5"))
    name, (account, contract, size, avg_cost) = decode(m.position("DU1", FUTURE, pos))
    assert name == "position"
    assert account == "DU1"
    assert_contract(contract, FUTURE, exchange="CME")
    assert (size, avg_cost) == (-3.0, 251234.5)


def test_portfolio_value_decodes_field_by_field() -> None:
    pos = Position(Decimal("2"), Decimal("15000"), realized=Decimal("7.5"))
    fields = m.portfolio_value(OPTION, pos, Decimal("151"), "DU1")
    name, (contract, size, price, value, avg, unrealized, realized, account) = decode(fields)
    assert name == "updatePortfolio"
    assert_contract(contract, OPTION)
    assert contract.primaryExchange == "SMART"
    assert contract.exchange == ""
    assert (size, price, value, avg, unrealized, realized, account) == (
        2.0,
        151.0,
        30200.0,
        15000.0,
        200.0,
        7.5,
        "DU1",
    )


# ----------------------------------------- what ib_async writes, the fake reads


def client_frames(call: Any) -> list[list[str]]:
    """Run one `Client` request method and return the frames it would send."""
    client_class: Any = Client
    client = client_class(Recorder())
    client.connState = Client.CONNECTED
    client._serverVersion = m.SERVER_VERSION
    sent: list[str] = []
    client.sendMsg = sent.append
    call(client)
    return [message.split("\0")[:-1] for message in sent]


def test_place_order_fields_are_read_where_ib_async_writes_them() -> None:
    contract = Contract(secType="OPT", conId=0, symbol="AAPL", localSymbol="AAPL  261218C00200000")
    order = StopLimitOrder("SELL", 3, 2.55, 2.6, tif="GTC", orderRef="cid-9", outsideRth=True)
    [fields] = client_frames(lambda c: c.placeOrder(31, contract, order))
    assert fields[:2] == ["3", "31"]
    query = ContractQuery.from_fields(fields[2:14])
    assert query.matches(OPTION)
    assert not query.matches(STOCK)
    ticket = parse_ticket(fields)
    assert ticket == Ticket(
        action="SELL",
        quantity=Decimal("3.0"),
        order_type="STP LMT",
        limit_price=Decimal("2.55"),
        stop_price=Decimal("2.6"),
        tif="GTC",
        order_ref="cid-9",
        account="",
        outside_rth=True,
    )
    [market] = client_frames(lambda c: c.placeOrder(32, contract, LimitOrder("BUY", 1, 2.5)))
    plain = parse_ticket(market)
    assert (plain.stop_price, plain.tif, plain.order_ref, plain.outside_rth) == (
        None,
        "DAY",
        "",
        False,
    )


def test_contract_details_and_executions_requests_are_read_where_written() -> None:
    stock = Contract(secType="STK", symbol="AAPL", exchange="SMART", currency="USD")
    [details] = client_frames(lambda c: c.reqContractDetails(4, stock))
    assert details[:3] == ["9", "8", "4"]
    query = ContractQuery.from_fields(details[3:15])
    assert query.matches(STOCK)
    assert not query.matches(OPTION)
    flt = ExecutionFilter(clientId=3, time="20261201 14:00:00 UTC", symbol="AAPL", side="BUY")
    [executions] = client_frames(lambda c: c.reqExecutions(6, flt))
    assert executions == ["7", "3", "6", "3", "", "20261201 14:00:00 UTC", "AAPL", "", "", "BUY"]
    assert parse_filter_time(executions[5]) == datetime(2026, 12, 1, 14, tzinfo=UTC)
    assert parse_filter_time("20261201-14:00:00") == datetime(2026, 12, 1, 14, tzinfo=UTC)


def test_unset_double_round_trips_as_ib_async_unset() -> None:
    assert math.isclose(float(m.UNSET_DOUBLE), UNSET_DOUBLE)
