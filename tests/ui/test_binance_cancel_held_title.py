"""A cancel Binance's 429 holds is owed: the adapter sends it by itself once the
Retry-After is over (`CancelHeld`). Its toast was titled "Cancel failed" in red (the
Binance drill): a trader read it as failed and cancelled again, or went to the venue.
It is titled as held, a warning, and the order ends CANCELED by itself (the real app,
session and python-binance against the fake Binance; the desk's clock, which times the
Retry-After, is the test's)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.screens.main import CANCEL_HELD_TITLE
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401

from .test_binance_amend_dialog import KEY, binance_desk


def toasts(desk: Desk, title: str) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in desk.app._notifications if n.title == title]


async def test_a_cancel_held_by_a_429_is_said_held_not_failed(make_desk) -> None:  # noqa: F811
    async with binance_desk(make_desk) as (desk, fake, pilot):
        engine = desk.session.engine
        coid = await engine.submit(
            OrderRequest(
                broker="binance", account="spot", instrument=KEY, side=Side.BUY,
                order_type=OrderType.LIMIT, quantity=Decimal("0.1"),
                limit_price=Decimal("1900"), tif=TimeInForce.GTC,
            )
        )  # fmt: skip
        await until(
            pilot,
            "the order working",
            lambda: (v := engine.oms.get(coid)) is not None and v.order.status is OrderStatus.NEW,
        )
        fake.throttle(1, retry_after=2.0, ban=0.0)
        await pilot.press("3", "home", "c")
        await until(pilot, "the toast", lambda: bool(toasts(desk, CANCEL_HELD_TITLE)))
        [(said, severity)] = toasts(desk, CANCEL_HELD_TITLE)
        assert severity == "warning"
        assert "goes out by itself" in said, said
        assert toasts(desk, "Cancel failed") == []
        # ... and it does, once the Retry-After is over (by the desk's clock).
        desk.clock.advance(3.0)
        await until(
            pilot,
            "cancelled by itself",
            lambda: engine.oms.orders[coid].order.status is OrderStatus.CANCELED,
            timeout=10,
        )
