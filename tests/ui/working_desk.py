"""A busy desk for snapshots and layout tests: twenty instruments, a position in
each, thirty-two resting limit orders far from the market, three cancelled ones.

Everything goes through the engine on the seeded paper market with the injected
clock, so the desk is the same on every run."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot

from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import Instrument, OrderRequest, OrderType, Side, TimeInForce

from .conftest import Desk

SYMBOLS = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "BNBUSDT",
    "XRPUSDT",
    "AAPL",
    "MSFT",
    "NVDA",
    "TSLA",
    "SPY",
    "AMZN",
    "GOOG",
    "META",
    "NFLX",
    "AMD",
    "INTC",
    "ORCL",
    "CSCO",
    "PEP",
    "KO",
]
QUANTITY = {
    "BTCUSDT": Decimal("0.01"),
    "ETHUSDT": Decimal("0.2"),
    "SOLUSDT": Decimal("3"),
    "BNBUSDT": Decimal("1"),
    "XRPUSDT": Decimal("500"),
}
RESTING = 32
CANCELLED = 3


def working_settings() -> Settings:
    paper = PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        symbols=SYMBOLS,
        starting_cash={"USDT": Decimal("1000000"), "USD": Decimal("1000000")},
        market={"autorun": False},
        latency={"enabled": False},
    )
    risk = {"defaults": {"max_orders_per_s": None, "max_open_orders": None}}
    return Settings(brokers=[paper], risk=risk)


async def build_working_desk(desk: Desk, pilot: Pilot[None]) -> None:
    engine = desk.session.engine
    await desk.step(pilot, 3)
    quotes = desk.app.model.quotes
    n = 0

    def coid() -> str:
        nonlocal n
        n += 1
        return f"wd{n:018d}"

    def instrument(symbol: str) -> Instrument:
        found = engine.instrument("paper", f"{symbol}.PAPER")
        assert found is not None, symbol
        return found

    # A position in each of the twenty: marketable buys.
    for i, symbol in enumerate(SYMBOLS):
        await engine.submit(
            OrderRequest(
                client_order_id=coid(),
                broker="paper",
                account="main",
                instrument=f"{symbol}.PAPER",
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=QUANTITY.get(symbol, Decimal(10 + i)),
                tif=TimeInForce.IOC,
            )
        )
    await desk.step(pilot, 1)
    # Resting bids 3% under the bid, on the tick (the price collar is 5%).
    for k in range(RESTING + CANCELLED):
        symbol = SYMBOLS[k % len(SYMBOLS)]
        inst = instrument(symbol)
        bid = quotes[inst.key].quote.bid
        assert bid is not None
        price = inst.round_price(bid * Decimal("0.97") - inst.tick_size * k, "down")
        await engine.submit(
            OrderRequest(
                client_order_id=coid(),
                broker="paper",
                account="main",
                instrument=inst.key,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=QUANTITY.get(symbol, Decimal(5 + k)),
                limit_price=price,
            )
        )
    await desk.settle(pilot)
    for view in engine.oms.working()[-CANCELLED:]:
        await engine.cancel(view.client_order_id)
    await desk.step(pilot, 2)
    # A frame can run in the middle of a step's settle and draw the marks of a new
    # second before all of its quotes are in (marks are drawn once a second): a quiet
    # second after the market's last step draws the marks the desk has settled on.
    await desk.next_second(pilot)
    await desk.quiet(pilot)
