"""The fake TWS's `correct_execution` moves the cash as IB books the corrected trade: a
buy corrected to a lower price paid less, a sale corrected to a higher one was paid
more, a size corrected trades more or fewer units (multiplier included). Before, it
moved the order, the position's average and its P&L, and the account's cash stayed at
the first price: the desk's balance read what the trade never cost. The real ib_async
client reads the account values TWS sends after the correction."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_async import IB, Contract, Future, LimitOrder, Stock

from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until


def cash_of(ib: IB) -> Decimal:
    [usd] = [v.value for v in ib.accountValues() if v.tag == "CashBalance" and v.currency == "USD"]
    return Decimal(usd)


@pytest.mark.parametrize(
    ("contract", "action", "qty", "price", "corrected", "moved"),
    [
        # buy 10 @ 149.50, corrected to 149.40: paid 1.00 less
        (Stock("AAPL", "SMART", "USD"), "BUY", 10, "149.50", ("149.40", None), "1.00"),
        # sell 10 @ 149.50, corrected to 149.60: got 1.00 more
        (Stock("AAPL", "SMART", "USD"), "SELL", 10, "149.50", ("149.60", None), "1.00"),
        # buy 10 @ 149.50, corrected to 8 shares: 299.00 back
        (Stock("AAPL", "SMART", "USD"), "BUY", 10, "149.50", (None, "8"), "299.00"),
        # buy 2 ES @ 6000.25, corrected to 6000.00: 0.25 x 2 x 50 back
        (Future("ES", "202612", "CME"), "BUY", 2, "6000.25", ("6000.00", None), "25.00"),
    ],
)
async def test_a_corrected_execution_moves_the_cash_by_the_difference(
    contract: Contract,
    action: str,
    qty: int,
    price: str,
    corrected: tuple[str | None, str | None],
    moved: str,
) -> None:
    async with FakeTws(cash={"USD": "1000000"}) as fake, ib_client(fake, client_id=1) as ib:
        [qualified] = await ib.qualifyContractsAsync(contract)
        trade = ib.placeOrder(
            qualified, LimitOrder(action, qty, float(price), account=fake.account)
        )
        await until(ib, lambda: trade.orderStatus.status == "Submitted")
        execution = await fake.fill(trade.order.orderId)
        await until(ib, lambda: trade.orderStatus.status == "Filled" and bool(trade.fills))
        await until(ib, lambda: cash_of(ib) != Decimal("1000000"))
        before = cash_of(ib)
        assert fake.cash["USD"] == before
        new_price, new_shares = corrected
        await fake.correct_execution(execution, price=new_price, shares=new_shares)
        expected = before + Decimal(moved)
        await until(ib, lambda: cash_of(ib) == expected)
        assert fake.cash["USD"] == expected
