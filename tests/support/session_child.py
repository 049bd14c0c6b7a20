"""A paper trading session in its own process, for the kill-and-restart test.

It trades (one market order that fills, two limit orders that rest), prints the
engine's state as one JSON line, then waits to be killed with SIGKILL — no clean
shutdown, no final snapshot.

    python -m tests.support.session_child REDIS_URL PREFIX
"""

from __future__ import annotations

import asyncio
import sys
from decimal import Decimal

import orjson

from silvertine_tui.bus import parse_id
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.core import TradingEngine

SYMBOL = "BTCUSDT.PAPER"


def state(engine: TradingEngine) -> dict[str, object]:
    """What must be identical after a restart (marks excluded: the market moves)."""
    orders = {
        cid: {
            "status": v.order.status,
            "filled": str(v.order.filled_qty),
            "quantity": str(v.order.quantity),
            "limit": str(v.order.limit_price),
        }
        for cid, v in sorted(engine.oms.orders.items())
    }
    positions = {
        "/".join(key): {
            "qty": str(s.quantity),
            "avg": str(s.avg_price),
            "realized": str(s.realized_pnl),
            "fees": {k: str(v) for k, v in s.fees.items()},
        }
        for key, s in sorted(engine.portfolio.positions.items())
    }
    working = sorted(v.client_order_id for v in engine.oms.working())
    return {"orders": orders, "positions": positions, "working": working}


def settings(url: str, prefix: str) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [{"name": "paper", "type": "paper", "symbols": ["BTCUSDT"]}],
        }
    )


async def until(engine: TradingEngine, check: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await engine.wait_changed(0.2)


async def applied_all(session: Session, timeout: float = 20.0) -> None:
    """Until the engine has applied every entry its venue journaled so far: a venue
    publishes a fill and the balance it moves as two entries, and a test that reads the
    engine between them sees a position with the cash it had before."""
    engine = session.engine
    streams = [session.bus.layout.exec(b.name, b.account) for b in session.settings.brokers]
    lasts: dict[str, str] = {}
    for stream in streams:
        for last in await session.bus.read_last(stream):
            lasts[stream] = last.id
    await until(
        engine,
        # At or past it: the venue may journal more meanwhile (ids compare as numbers).
        lambda: all(
            parse_id(engine.applied.get(s, "0-0")) >= parse_id(last) for s, last in lasts.items()
        ),
        timeout,
    )


async def main(url: str, prefix: str) -> None:
    session = Session(settings(url, prefix))
    await session.start()
    engine = session.engine
    await until(engine, lambda: engine.last_price(SYMBOL) is not None)
    last = engine.last_price(SYMBOL)
    assert last is not None

    def order(side: Side, kind: OrderType, qty: str, price: Decimal | None) -> OrderRequest:
        return OrderRequest(
            broker="paper",
            account="main",
            instrument=SYMBOL,
            side=side,
            order_type=kind,
            quantity=Decimal(qty),
            limit_price=price,
            tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
        )

    await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01", None))
    await until(engine, lambda: engine.position("paper", "main", SYMBOL) > 0)
    low = (last * Decimal("0.96")).quantize(Decimal("0.01"))
    high = (last * Decimal("1.04")).quantize(Decimal("0.01"))
    await engine.submit(order(Side.BUY, OrderType.LIMIT, "0.01", low))
    await engine.submit(order(Side.SELL, OrderType.LIMIT, "0.005", high))
    await until(engine, lambda: len(engine.oms.working()) == 2 and not engine.oms.pending_new())
    sys.stdout.write(orjson.dumps(state(engine)).decode() + "\n")
    sys.stdout.flush()
    await asyncio.sleep(3600)  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
