"""An order for a broker this desk has not got is refused by name, not as a claim."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.session import Session


async def test_an_unknown_broker_is_named_not_taken_for_a_lapsed_claim() -> None:
    settings = Settings.model_validate(
        {"brokers": [{"name": "paper", "type": "paper", "market": {"autorun": False}}]}
    )
    session = Session(settings, bus=MemoryBus())
    await session.start()
    try:
        request = OrderRequest(
            broker="nowhere",
            account="main",
            instrument="BTCUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal("0.01"),
        )
        with pytest.raises(KeyError, match="no broker named 'nowhere'"):
            await session.engine.submit(request)
    finally:
        await session.close()
