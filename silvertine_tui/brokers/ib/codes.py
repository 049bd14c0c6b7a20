"""TWS message codes the adapter acts on, and what each means to the trader."""

from __future__ import annotations

import re

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
FARM_NOTICES = frozenset({2104, 2106, 2107, 2108, 2158})
FARM_BROKEN = frozenset({2103, 2105, 2157})
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
