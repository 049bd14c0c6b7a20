"""Messages TWS sends, field by field as ib_async 2.1.0's `Decoder` reads them at server
version 178 (no version field where the decoder skips none, unused fields empty, the
counters numLegs/numOrderLegs/smartParams/conditions and the delta-neutral flag "0").

Every function returns the field list of one frame; `framing.encode_frame` sends it.
tests/unit/test_fake_tws_codec.py feeds each through ib_async's own decoder.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tests.fakes.tws.contracts import ContractSpec
from tests.fakes.tws.exchange import Execution, Order, Position
from tests.fakes.tws.framing import Field

SERVER_VERSION = 178
UNSET_DOUBLE = "1.7976931348623157E308"

# incoming request ids (ib_async `Client`)
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_CURRENT_TIME = 49
REQ_GLOBAL_CANCEL = 58
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99

# tick types
BID, ASK, LAST = 1, 2, 4
BID_SIZE, ASK_SIZE, LAST_SIZE = 0, 3, 5
CLOSE = 9  # the prior session's close (price only: TWS sends no size tick with it)
# tickString types: the last trade's time in unix seconds (88 for delayed data)
LAST_TIMESTAMP, DELAYED_LAST_TIMESTAMP = 45, 88
DELAYED_OFFSET = {
    BID: 66,
    ASK: 67,
    LAST: 68,
    BID_SIZE: 69,
    ASK_SIZE: 70,
    LAST_SIZE: 71,
    CLOSE: 75,
}


def ib_time(moment: datetime) -> str:
    """`20261201 02:15:27 UTC`: the form `parseIBDatetime` reads with a zone."""
    return moment.strftime("%Y%m%d %H:%M:%S ") + (moment.tzname() or "UTC")


def contract_fields(spec: ContractSpec, *, exchange: bool = True) -> list[Field]:
    """conId symbol secType lastTrade strike right multiplier [exchange] currency local
    tradingClass: the 11 (or 10) fields most messages carry."""
    head: list[Field] = [
        spec.con_id,
        spec.symbol,
        spec.sec_type,
        spec.last_trade_date,
        spec.strike,
        spec.right,
        spec.multiplier,
    ]
    if exchange:
        head.append(spec.exchange)
    return [*head, spec.currency, spec.local_symbol, spec.trading_class]


# ----------------------------------------------------------------- session


def handshake(connection_time: datetime, version: int = SERVER_VERSION) -> list[Field]:
    return [version, ib_time(connection_time)]


def next_valid_id(order_id: int) -> list[Field]:
    return [9, 1, order_id]


def managed_accounts(accounts: list[str]) -> list[Field]:
    return [15, 1, ",".join(accounts)]


def error(req_id: int, code: int, message: str, advanced_json: str = "") -> list[Field]:
    return [4, 2, req_id, code, message, advanced_json]


def current_time(epoch: int) -> list[Field]:
    return [49, 1, epoch]


# ------------------------------------------------------------------ orders


def order_status(order: Order) -> list[Field]:
    return [
        3,
        order.order_id,
        order.status,
        order.filled,
        order.ticket.quantity - order.filled,
        order.avg_fill_price,
        order.perm_id,
        0,  # parentId
        order.last_fill_price,
        order.client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    ]


def _price(value: Decimal | None) -> Field:
    return "" if value is None else value


def open_order(order: Order) -> list[Field]:
    t = order.ticket
    fields: list[Field] = [5, order.order_id, *contract_fields(order.spec)]
    fields += [t.action, t.quantity, t.order_type, _price(t.limit_price), _price(t.stop_price)]
    fields += [t.tif, "", t.account, "", 0, t.order_ref, order.client_id, order.perm_id]
    fields += [t.outside_rth, False, 0, "", "", "", "", ""]  # ... faGroup faMethod faPct
    # modelCode .. deltaNeutralAuxPrice (29)
    fields += ["", "", "", "", "", 0, "", -1, 0, "", "", "", "", ""]
    fields += [0, False, False, False, "", 0, False, False, "", 0, 0, "", "", "", ""]
    # continuousUpdate referencePriceType trailStopPrice trailingPercent basisPoints
    # basisPointsType comboLegsDescrip, then numLegs numOrderLegs numSmartParams
    fields += [False, "", "", "", "", "", "", 0, 0, 0]
    fields += ["", "", ""]  # scaleInitLevelSize scaleSubsLevelSize scalePriceIncrement
    fields += [""]  # hedgeType
    fields += [False, "", "", False, 0]  # optOutSmartRouting .. notHeld, dncPresent
    fields += [""]  # algoStrategy
    fields += [False, False, order.status]  # solicited whatIf status
    fields += ["", "", "", "", "", "", "", "", ""]  # margins before/change/after
    fields += ["", "", "", "", ""]  # commission min max currency warningText
    fields += [False, False, 0]  # randomizeSize randomizePrice numConditions
    # adjustedOrderType triggerPrice trailStopPrice lmtPriceOffset adjustedStopPrice
    # adjustedStopLimitPrice adjustedTrailingAmount adjustableTrailingUnit
    fields += ["None", "", "", "", "", "", "", 0]
    fields += ["", "", "", ""]  # softDollarTier name val displayName, cashQty
    fields += [False, False, False, False]  # dontUseAutoPriceForHedge .. usePriceMgmtAlgo
    fields += ["", "", False]  # duration postToAts autoCancelParent
    fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return fields


def open_order_end() -> list[Field]:
    return [53, 1]


def completed_order(order: Order) -> list[Field]:
    t = order.ticket
    fields: list[Field] = [101, *contract_fields(order.spec)]
    fields += [t.action, t.quantity, t.order_type, _price(t.limit_price), _price(t.stop_price)]
    fields += [t.tif, "", t.account, "", 0, t.order_ref, order.perm_id]
    fields += [t.outside_rth, False, 0, "", "", "", ""]  # ... goodAfterTime faGroup faMethod faPct
    # modelCode .. deltaNeutralAuxPrice (23)
    fields += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", 0, False, False, "", 0]
    fields += [0, "", "", "", ""]
    fields += [False, "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
    fields += [0, 0, 0]  # numLegs numOrderLegs numSmartParams
    fields += ["", "", "", ""]  # scale init/subs/increment, hedgeType
    fields += ["", "", False, 0]  # clearingAccount clearingIntent notHeld dncPresent
    fields += [""]  # algoStrategy
    fields += [False, order.status, False, False, 0]  # solicited status randomize*2 conds
    # trailStopPrice lmtPriceOffset cashQty dontUseAutoPriceForHedge isOmsContainer
    # autoCancelDate filledQuantity refFuturesConId autoCancelParent shareholder
    # imbalanceOnly routeMarketableToBbo parentPermId completedTime completedStatus
    fields += ["", "", "", False, False, "", order.filled, 0, False, "", False, False, 0]
    fields += [order.completed_time, order.completed_status]
    fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
    return fields


def completed_orders_end() -> list[Field]:
    return [102]


# -------------------------------------------------------------- executions


def exec_details(req_id: int, execution: Execution, account: str) -> list[Field]:
    order = execution.order
    return [
        11,
        req_id,
        order.order_id,
        *contract_fields(order.spec),
        execution.exec_id,
        ib_time(execution.time),
        account,
        order.spec.report_exchange,
        execution.side,
        execution.shares,
        execution.price,
        order.perm_id,
        order.client_id,
        0,  # liquidation
        execution.cum_qty,
        execution.avg_price,
        order.ticket.order_ref,
        "",  # evRule
        "",  # evMultiplier
        "",  # modelCode
        execution.liquidity,
        False,  # pendingPriceRevision (server version 178)
    ]


def exec_details_end(req_id: int) -> list[Field]:
    return [55, 1, req_id]


def commission_report(execution: Execution, *, unset: bool = False) -> list[Field]:
    """`unset`: the commission not worked out yet (IB's max double in its place)."""
    realized = UNSET_DOUBLE if execution.realized_pnl is None else execution.realized_pnl
    return [
        59,
        1,
        execution.exec_id,
        UNSET_DOUBLE if unset else execution.commission,
        execution.commission_currency,
        realized,
        UNSET_DOUBLE,  # yield
        "",  # yieldRedemptionDate
    ]


# --------------------------------------------------------------- contracts


def contract_details(req_id: int, spec: ContractSpec) -> list[Field]:
    return [
        10,
        req_id,
        spec.symbol,
        spec.sec_type,
        spec.last_trade_date,
        spec.strike,
        spec.right,
        spec.exchange,
        spec.currency,
        spec.local_symbol,
        spec.trading_class,  # marketName
        spec.trading_class,
        spec.con_id,
        spec.min_tick,
        spec.multiplier,
        spec.order_types,
        spec.valid_exchanges,
        1,  # priceMagnifier
        0,  # underConId
        spec.long_name,
        spec.primary_exchange,
        spec.last_trade_date[:6],  # contractMonth
        "",  # industry
        "",  # category
        "",  # subcategory
        spec.time_zone_id,
        spec.trading_hours,
        spec.liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        0,  # numSecIds
        1,  # aggGroup
        spec.symbol if spec.sec_type in ("FUT", "OPT") else "",  # underSymbol
        "STK" if spec.sec_type == "OPT" else ("IND" if spec.sec_type == "FUT" else ""),
        spec.market_rule_ids,
        spec.last_trade_date,  # realExpirationDate
        "COMMON" if spec.sec_type == "STK" else "",  # stockType
        spec.min_size,
        spec.size_increment,
        spec.size_increment,  # suggestedSizeIncrement
    ]


def contract_details_end(req_id: int) -> list[Field]:
    return [52, 1, req_id]


# ------------------------------------------------------- positions, account


def position(account: str, spec: ContractSpec, pos: Position) -> list[Field]:
    return [61, 3, account, *contract_fields(spec), pos.quantity, pos.avg_cost]


def position_end() -> list[Field]:
    return [62, 1]


def account_value(tag: str, value: str, currency: str, account: str) -> list[Field]:
    return [6, 2, tag, value, currency, account]


def portfolio_value(
    spec: ContractSpec, pos: Position, market_price: Decimal, account: str
) -> list[Field]:
    market_value = pos.quantity * market_price * spec.unit
    head: list[Field] = [spec.con_id, spec.symbol, spec.sec_type, spec.last_trade_date, spec.strike]
    return [
        7,
        8,
        *head,
        spec.right,
        spec.multiplier,
        spec.report_exchange,  # primaryExchange
        spec.currency,
        spec.local_symbol,
        spec.trading_class,
        pos.quantity,
        market_price,
        market_value,
        pos.avg_cost,
        market_value - pos.quantity * pos.avg_cost,
        pos.realized,
        account,
    ]


def account_time(moment: datetime) -> list[Field]:
    return [8, 1, moment.strftime("%H:%M")]


def account_download_end(account: str) -> list[Field]:
    return [54, 1, account]


def account_update_multi(
    req_id: int, account: str, tag: str, value: str, currency: str
) -> list[Field]:
    return [73, 1, req_id, account, "", tag, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    return [74, 1, req_id]


# ------------------------------------------------------------- market data


def market_data_type(req_id: int, data_type: int) -> list[Field]:
    return [58, 1, req_id, data_type]


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal) -> list[Field]:
    # attribute mask: canAutoExecute (bit 0) on bid/ask, as TWS sends it
    mask = 1 if tick_type in (BID, ASK, 66, 67) else 0
    return [1, 6, req_id, tick_type, price, size, mask]


def tick_size(req_id: int, tick_type: int, size: Decimal) -> list[Field]:
    return [2, 6, req_id, tick_type, size]


def tick_string(req_id: int, tick_type: int, value: str) -> list[Field]:
    return [46, 6, req_id, tick_type, value]
