"""TWS message codes the adapter acts on, and what each means to the trader."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102
# Why the subscriptions are asked again after each: the market link's "awaiting a first
# quote since ...".
RESUBSCRIBED = {
    RESTORED_DATA_LOST: "TWS lost market data (1101)",
    RESTORED_DATA_KEPT: "TWS was cut off from IB (1100; back, 1102)",
}
CLIENT_ID_IN_USE = 326
PACING = frozenset({100, 162, 420})
FARM_OK = frozenset({2104, 2106, 2158})
# "... farm connection is inactive but should be available upon demand": not broken
FARM_INACTIVE = frozenset({2107, 2108})
FARM_NOTICES = FARM_OK | FARM_INACTIVE
FARM_BROKEN = frozenset({2103, 2105, 2157})
# "Connectivity between Trader Workstation and server is broken. It will be restored
# automatically.": TWS's own link to IB's servers, over again at 1101/1102 or a farm OK.
SERVER_BROKEN = 2110
# Each kind of farm by the codes about it, and what it serves as the trader reads it.
FARM_KINDS = {
    **dict.fromkeys((2103, 2104, 2108), "market data"),
    **dict.fromkeys((2105, 2106, 2107), "historical data"),
    **dict.fromkeys((2157, 2158), "contract details"),
}
FARM_SERVES = {
    **dict.fromkeys((2103, 2104, 2108), "market data: quotes may stop (their age shows)"),
    **dict.fromkeys((2105, 2106, 2107), "historical data (the desk does not use it)"),
    **dict.fromkeys((2157, 2158), "contract details: looking up a symbol may fail"),
}
_FARM = re.compile(r"(?::|upon demand\.)\s*(\S+)\s*$")
ORDER_REJECTED = 201
ORDER_CANCELLED = 202
PRICE_OFF_TICK = 110
CANNOT_MODIFY = 104
# 2102 "Unable to modify this order as it is still being processed": a refused modify,
# though in the range of notices (IB: "If you attempt to modify an order before it gets
# processed by the system, the modification will be rejected").
STILL_PROCESSING = 2102
UNKNOWN_CANCEL = 10147
CANNOT_CANCEL = 10148
NOT_CANCELLABLE = 161  # "Cancel attempted when order is not in a cancellable state"
# What only a cancel is answered with: TWS names the order, not the request, so with a
# modify of the same order waiting too these go to the cancel.
CANCEL_ANSWERS = frozenset({UNKNOWN_CANCEL, CANNOT_CANCEL, NOT_CANCELLABLE})
# In a 10148's text: a cancel (sent from elsewhere) is already pending at IB.
PENDING_CANCEL_STATE = "state: PendingCancel"
NO_SECURITY = 200
DELAYED_NOTICE = 10167
# "Part of requested market data is not subscribed. Subscription-independent ticks are
# still active": the subscription's data flows, in part (`MarketData.partial`).
PARTIAL_DATA = 10090
NOT_SUBSCRIBED = 354
# "No market data during competing live session": the IB user is logged in elsewhere
# (another TWS or IB Gateway, Client Portal, IBKR Mobile) and that session has the live
# data; TWS sends it on each market data request and its quotes stop until that session
# logs out (`MarketData.competing`). A paper account gets its data through the live
# user's login, so a live session of that user is one too.
COMPETING_SESSION = 10197
# Every error about an order that is not a notice (below) answers the place or modify
# waiting for it as a refusal (103, 104, 105, 110, 135, 161, 201, 321, 387, 434 ...).
# Warnings about an order that TWS takes all the same (ib_async too keeps the order
# live on them): 399 "will not be placed at the exchange until ...", 404 shares held
# while IB locates them for a short sale, 10349 TIF set by an order preset, 492 and
# 10167 as ib_async lists them, and the 2100-2199 range (2109 "Outside Regular Trading
# Hours is ignored ... PlaceOrder is now being processed") but 2102. 105, 110, 321, 329 and 434,
# which ib_async also calls warnings, refuse a new order or a modify: not here.
ORDER_NOTICES = frozenset({399, 404, 492, 10167, 10349})


def is_notice(code: int) -> bool:
    """A message about an order that neither refuses nor ends it."""
    if code == STILL_PROCESSING:
        return False
    return code in ORDER_NOTICES or 2100 <= code < 2200


_FUNDS = re.compile(r"insufficient|margin|equity with loan|buying power", re.IGNORECASE)


def is_funds_reject(code: int, message: str) -> bool:
    return code == ORDER_REJECTED and bool(_FUNDS.search(message))


def reject_reason(code: int, message: str) -> str:
    """A refusal as the trader reads it: what TWS said, and what to do."""
    text = message.strip().rstrip(".")
    if is_funds_reject(code, message):
        return f"insufficient funds or margin at IB ({code}: {text}); reduce the size"
    if code == PRICE_OFF_TICK:
        return f"price not on the contract's tick grid ({code}: {text}); round the price"
    if code == ORDER_REJECTED:
        return f"IB rejected the order ({code}: {text})"
    if code == STILL_PROCESSING:
        return f"TWS refused it ({code}: {text}); send the change again in a moment"
    return f"TWS refused it ({code}: {text})"


def farm_of(code: int, message: str) -> str:
    """The farm a farm notice is about (`usfarm`, `secdefnj`), else the kind of farm
    its code names."""
    found = _FARM.search(message)
    if found is not None:
        return found.group(1)
    return f"{FARM_KINDS.get(code, 'data')} farm"


def farm_problem(code: int, message: str) -> str:
    """A broken data farm as the health pane says it (`notice:farm`)."""
    serves = FARM_SERVES.get(code, "data")
    text = message.strip().rstrip(".")
    return (
        f"data farm problem: {farm_of(code, message)} ({code}: {text}); {serves}; TWS "
        "reconnects its farms by itself"
    )


def server_broken(message: str) -> str:
    """2110 as the health pane says it (`notice:tws`)."""
    text = message.strip().rstrip(".")
    return (
        f"TWS cannot reach IB's servers ({SERVER_BROKEN}: {text}): quotes and order "
        "reports may stall until TWS restores it by itself; if it lasts, check TWS"
    )


def server_broken_link(message: str) -> str:
    """2110 as the `ib` link says it while it holds (DEGRADED): what it stops, what to do."""
    text = message.strip().rstrip(".")
    return (
        f"TWS cannot reach IB's servers ({SERVER_BROKEN}: {text}): an order sent now "
        "would not reach IB, so new orders are refused until TWS reaches IB again "
        "(cancels are still sent: TWS passes them on once it is back, check them in "
        "TWS). TWS restores it by itself; if it lasts, check TWS's connection (or "
        "restart TWS)"
    )


def competing_session(keys: list[str], message: str) -> str:
    """10197 as the market link says it: which instruments it stopped, why, what to do."""
    text = message.strip().rstrip(".")
    return (
        f"no market data for {', '.join(keys)}: the IB user is logged in elsewhere and that "
        f"session takes the live data ({COMPETING_SESSION}: {text}); the quotes shown are "
        "as old as their age says. Log out of the other session (TWS, IB Gateway, Client "
        "Portal or IBKR Mobile on the same user) and the data flows again"
    )


def describe(code: int, message: str) -> str:
    """One line for the health pane."""
    if code == CONNECTIVITY_LOST:
        return "TWS lost its connection to IB (1100)"
    if code == RESTORED_DATA_KEPT:
        return "TWS reconnected to IB (1102), data kept: reconciling"
    if code == RESTORED_DATA_LOST:
        return "TWS reconnected to IB (1101), market data lost: resubscribing and reconciling"
    if code in FARM_NOTICES:
        return f"data farm OK ({code}: {message})"
    if code in FARM_BROKEN:
        return f"data farm problem ({code}: {message}); TWS retries by itself"
    if code in PACING:
        return f"pacing violation ({code}: {message}): slowing down and retrying"
    return f"{code}: {message}"


# -- messages TWS sends that ib_async cannot read ------------------------------------------

# What a message of each id is (as ib_async's decoder reads it), as the trader reads it.
MESSAGES = {
    1: "a price tick",
    2: "a size tick",
    3: "an order status",
    4: "an error or notice",
    5: "an open order",
    6: "an account value",
    7: "a portfolio update",
    8: "an account time",
    9: "the next order id",
    10: "contract details",
    11: "an execution (a fill)",
    45: "a generic tick",
    46: "a string tick",
    49: "TWS's time",
    53: "the end of the open orders",
    55: "the end of the executions",
    58: "the market data type",
    59: "a commission report",
    61: "a position",
    62: "the end of the positions",
    101: "a completed order",
    102: "the end of the completed orders",
}
# Those that report on an order or an execution: one lost, TWS's orders and executions
# are read again (`IBBroker._reread`); and positions.
ORDER_REPORTS = frozenset({3, 4, 5, 11, 59, 101})
POSITION_REPORTS = frozenset({61})
# ib_async's wrapper methods by the message that calls them ("Error for <method>(...)",
# when the method raised).
METHODS = {
    "orderStatus": 3,
    "error": 4,
    "openOrder": 5,
    "updateAccountValue": 6,
    "updatePortfolio": 7,
    "execDetails": 11,
    "commissionReport": 59,
    "position": 61,
    "completedOrder": 101,
}
# How many times in a row TWS is read again while its answers are unreadable too.
REREAD_ROUNDS = 3

_HANDLING = re.compile(r"^Error handling fields: \[(?:'([^']*)'|\"([^\"]*)\")")
_METHOD = re.compile(r"^Error for (\w+)\(")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message ib_async's decoder could not read, as far as its log line says."""

    msg_id: str  # its message id as TWS sent it; "" when not said
    said: str  # what it was, in words
    reread: bool  # it may have reported an order, an execution or a position
    positions: bool = False  # it may have reported a position


def unreadable(text: str, known: Container[int]) -> Unreadable:
    """What the message ib_async's decoder logged `text` about was: its id is the first
    of the fields it lists ("Error handling fields: ['11', ...]"), or the message of
    the wrapper method that raised ("Error for orderStatus(...)"). `known`: the ids
    ib_async reads. One of a kind ib_async does not know is no order's report (those
    it reads); one whose kind cannot be told (an id that is no number, a line worded
    otherwise) may have been any, so TWS is read again."""
    found = _HANDLING.match(text)
    method = _METHOD.match(text)
    if found is not None:
        first = found.group(1) if found.group(1) is not None else found.group(2)
        if first.isdecimal() and first.isascii():
            number = int(first)
            if number not in known:
                return Unreadable(
                    first, f"a message of a kind ib_async does not know (id {number})", False
                )
            return _of(first, number)
        said = f"a message whose kind cannot be read (id {first!r})"
        return Unreadable(first, said, True, positions=True)
    if method is not None and method.group(1) in METHODS:
        number = METHODS[method.group(1)]
        return _of(str(number), number)
    return Unreadable("", "a message of a kind not said", True, positions=True)


def _of(msg_id: str, number: int) -> Unreadable:
    said = MESSAGES.get(number, f"a message of kind {number}")
    orders = number in ORDER_REPORTS
    positions = number in POSITION_REPORTS
    return Unreadable(msg_id, said, orders or positions, positions=positions)
