"""The fake Binance speaks Order Amend Keep Priority as Binance documents it
(`rest-api.md` "Order Amend Keep Priority (TRADE)", `faqs/order_amend_keep_priority.md`,
`errors.md` -2038, `filters.md` MAX_NUM_ORDER_AMENDS), driven by the real python-binance
client through its own signed PUT (`AsyncClient._put`: 1.0.37 has no method for it).

Before, the fake had no such route (a PUT answered 405) and said `amendAllowed` false."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.fakes.binance.exchange import BinanceError, Commission, Exchange

from .conftest import api_error

D = Decimal
SYMBOL = "BTCUSDT"
AMENDABLE = SymbolSpec(SYMBOL, "BTC", "USDT", amend_allowed=True, max_order_amends=3)


async def amend(client: Any, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await client._put(
        "order/amend/keepPriority", signed=True, data={"symbol": SYMBOL, **params}
    )
    return answer


async def test_an_amend_keeps_the_order_and_answers_as_documented() -> None:
    """BUY 1 @ 99 to 0.6, keeping its client order id: the answer's shape, the same
    order id, 0.6 x 99 still held (39.6 freed), weight 4 and no order count, and the
    executionReport `x` REPLACED."""
    async with (
        FakeBinance(symbols=[AMENDABLE], balances={"USDT": "1000"}) as fake,
        binance_client(fake) as client,
    ):
        await fake.set_quote(SYMBOL, "100", "101")
        info = await client.get_exchange_info()
        assert info["symbols"][0]["amendAllowed"] is True
        filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
        assert filters["MAX_NUM_ORDER_AMENDS"] == {
            "filterType": "MAX_NUM_ORDER_AMENDS",
            "maxNumOrderAmends": 3,
        }
        placed = await client.order_limit_buy(
            symbol=SYMBOL, quantity="1", price="99", newClientOrderId="mine"
        )
        weight = fake.used_weight
        answer = await amend(
            client, orderId=placed["orderId"], newQty="0.6", newClientOrderId="mine"
        )
        assert fake.used_weight - weight == 4
        assert "X-MBX-ORDER-COUNT-10S" not in client.response.headers
        assert set(answer) == {"transactTime", "executionId", "amendedOrder"}
        order = answer["amendedOrder"]
        assert {k: order[k] for k in ("orderId", "origClientOrderId", "clientOrderId")} == {
            "orderId": placed["orderId"],
            "origClientOrderId": "mine",
            "clientOrderId": "mine",
        }
        assert (order["qty"], order["executedQty"], order["status"]) == (
            "0.60000000",
            "0.00000000",
            "NEW",
        )
        assert {"cumulativeQuoteQty", "preventedQty", "workingTime"} <= set(order)
        assert fake.balances["USDT"] == (D("940.6"), D("59.4"))
        report = [e for e in fake.sent_user_events if e.get("e") == "executionReport"][-1]
        assert (report["x"], report["X"], report["q"], report["i"], report["c"]) == (
            "REPLACED",
            "NEW",
            "0.60000000",
            placed["orderId"],
            "mine",
        )
        assert report["I"] == answer["executionId"]
        # Without newClientOrderId the order gets a new random one.
        again = await amend(client, origClientOrderId="mine", newQty="0.5")
        assert again["amendedOrder"]["clientOrderId"] != "mine"
        assert again["amendedOrder"]["origClientOrderId"] == "mine"


async def test_the_amend_refusals_are_binances() -> None:
    """-2038 with errors.md's messages (the order unchanged), -1013 off the lot grid,
    -1102 without newQty, -1022 with a bad signature."""
    async with (
        FakeBinance(
            symbols=[AMENDABLE, SymbolSpec("ETHUSDT", "ETH", "USDT")],
            balances={"USDT": "10000"},
        ) as fake,
        binance_client(fake) as client,
    ):
        await fake.set_quote(SYMBOL, "100", "101")
        await fake.set_quote("ETHUSDT", "100", "101")
        placed = await client.order_limit_buy(symbol=SYMBOL, quantity="1", price="99")
        oid = placed["orderId"]

        async def refused(**params: Any) -> tuple[int, str]:
            error = await api_error(amend(client, **params))
            return error.code, error.message

        assert await refused(orderId=oid, newQty="1.5") == (
            -2038,
            "Order amend (quantity increase) is not supported.",
        )
        assert await refused(orderId=oid, newQty="1") == (
            -2038,
            "The requested action would change no state; rejecting.",
        )
        assert await refused(orderId=999, newQty="0.5") == (-2038, "Unknown order sent.")
        assert await refused(orderId=oid, newQty="0.123456") == (-1013, "Filter failure: LOT_SIZE")
        assert (await refused(orderId=oid))[0] == -1102
        eth = await client.order_limit_buy(symbol="ETHUSDT", quantity="1", price="99")
        error = await api_error(
            client._put(
                "order/amend/keepPriority",
                signed=True,
                data={"symbol": "ETHUSDT", "orderId": eth["orderId"], "newQty": "0.5"},
            )
        )
        assert (error.code, error.message) == (
            -2038,
            "Order amend is not supported for this symbol.",
        )
        for qty in ("0.9", "0.8", "0.7"):
            await amend(client, orderId=oid, newQty=qty)
        assert await refused(orderId=oid, newQty="0.6") == (
            -2038,
            "Filter failure: MAX_NUM_ORDER_AMENDS",
        )
        assert fake.orders[oid].orig_qty == D("0.7")
        assert fake.balances["USDT"] == (D(10000) - D("69.3") - D(99), D("69.3") + D(99))
        fake.reject_next_amend()
        assert (await refused(orderId=eth["orderId"], newQty="0.5"))[0] == -2038

    async with (
        FakeBinance(symbols=[AMENDABLE], balances={"USDT": "1000"}) as fake,
        binance_client(fake, api_secret="not-the-secret") as wrong,
    ):
        error = await api_error(amend(wrong, orderId=1, newQty="0.5"))
        assert error.code == -1022


async def test_an_amended_order_keeps_its_place_and_a_replaced_one_does_not() -> None:
    """Three buys at 99: a, b, c. a amended to 0.5 still fills before b; b
    cancel-replaced (a new order) goes behind c."""
    async with (
        FakeBinance(symbols=[AMENDABLE], balances={"USDT": "10000"}) as fake,
        binance_client(fake) as client,
    ):
        await fake.set_quote(SYMBOL, "100", "101")
        ids = {}
        for name in ("a", "b", "c"):
            placed = await client.order_limit_buy(
                symbol=SYMBOL, quantity="1", price="99", newClientOrderId=name
            )
            ids[name] = placed["orderId"]
        await amend(client, orderId=ids["a"], newQty="0.5", newClientOrderId="a")
        await client.cancel_replace_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="99",
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrigClientOrderId="b",
            newClientOrderId="b",
        )
        await fake.trade(SYMBOL, "99", "1.5")
        filled = {
            o.client_order_id: o.executed_qty
            for o in fake.orders.values()
            if o.is_open or o.executed_qty
        }
        assert filled == {"a": D("0.5"), "b": D(0), "c": D(1)}


def exchange(amends: int = 10) -> Exchange:
    spec = SymbolSpec(SYMBOL, "BTC", "USDT", amend_allowed=True, max_order_amends=amends)
    return Exchange([spec], {"USDT": "100000", "BTC": "10"}, Commission(), lambda: 1)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    quantity=st.integers(1, 50),
    filled=st.integers(0, 50),
    new=st.integers(0, 60),
)
@example(side="BUY", quantity=10, filled=4, new=4)  # no more than filled: it ends
def test_an_amend_is_taken_whole_or_not_at_all(
    side: str, quantity: int, filled: int, new: int
) -> None:
    """For any order, fill and newQty (in tenths): refused, the order and the balances
    are as they were; taken, the order keeps its id, its quantity is `newQty` (or what
    filled, when it ends: EXPIRED), and it holds exactly what its rest needs."""
    ex = exchange()
    step = D("0.1")
    order, _ = ex.place(
        {
            "symbol": SYMBOL,
            "side": side,
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": str(quantity * step),
            "price": "99",
        }
    )
    if 0 < filled < quantity:
        ex.fill(order.order_id, filled * step)
    before = (order.orig_qty, order.executed_qty, order.status, order.locked)
    balances = {a: (b.free, b.locked) for a, b in ex.balances.items()}
    params = {"symbol": SYMBOL, "orderId": str(order.order_id), "newQty": str(new * step)}
    refusal: int | None = None
    try:
        amended, _ = ex.amend(params)
    except BinanceError as error:
        refusal = error.code
    if refusal is not None:
        assert refusal in (-2038, -1013)
        assert (order.orig_qty, order.executed_qty, order.status, order.locked) == before
        assert {a: (b.free, b.locked) for a, b in ex.balances.items()} == balances
        return
    assert amended is order
    assert ex.orders[order.order_id] is order
    assert D(new) * step < before[0]
    if D(new) * step <= order.executed_qty:
        assert (order.status, order.orig_qty, order.locked) == (
            "EXPIRED",
            order.executed_qty,
            D(0),
        )
    else:
        assert order.orig_qty == D(new) * step
        needs = order.remaining * D(99) if side == "BUY" else order.remaining
        assert order.locked == needs
    held = sum((o.locked for o in ex.orders.values() if o.lock_asset == order.lock_asset), D(0))
    assert ex.balances[order.lock_asset].locked == held
