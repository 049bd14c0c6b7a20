"""An order's history follows the order while it is open, as the modify dialog does:
it was drawn once, and an order cancelled (the kill switch, another desk, the venue)
or filled while the trader read it still said NEW, filled 0, with no line of it. The
title and the venue ids and fees are the order's now, each new event is a line at the
bottom, and the trader's place in a long history is kept (docs/ui.md, "Order
history")."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.domain import Fill, OrderStatus, Side
from silvertine_tui.events import FillEvent
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk, limit_buy

ETH = "ETHUSDT.PAPER"


def title(screen: OrderHistoryScreen) -> str:
    return str(screen.query_one("#dialog-title", Static).render())


def body_lines(screen: OrderHistoryScreen) -> list[str]:
    """Every line of the history, in order, as wide as whole lines."""
    console = Console(width=250, record=True, color_system=None, file=io.StringIO())
    for part in screen.query_one("#history-body").query(Static):
        console.print(part.content)
    return [line.rstrip() for line in console.export_text().splitlines() if line.strip()]


async def open_history(desk: Desk, pilot: Pilot[None], cid: str) -> OrderHistoryScreen:
    """The order's history from the Orders pane (`3`, `end`, `h`), as a trader opens it."""
    await pilot.press("3", "end", "h")
    await desk.settle(pilot)
    screen = desk.app.screen
    assert isinstance(screen, OrderHistoryScreen)
    assert screen.view.client_order_id == cid
    return screen


async def fill(desk: Desk, cid: str, n: int, quantity: str, price: str = "3400.00") -> None:
    """A fill of the order as the venue reports it."""
    made = Fill(
        exec_id=f"{cid}-x{n}",
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        quantity=Decimal(quantity),
        price=Decimal(price),
        fee=Decimal("0.01"),
        fee_currency="USDT",
    )
    await desk.session.bus.publish(FillEvent.create("paper/main", made, ts=desk.clock.ns()))


async def test_an_order_cancelled_while_its_history_is_open(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        cid = "st000000000000000777"
        await engine.submit(limit_buy(cid, ETH, "0.1", "3400.00"))
        await desk.settle(pilot)
        screen = await open_history(desk, pilot, cid)
        assert " NEW " in title(screen)
        before = body_lines(screen)
        assert not any("CANCELED" in line for line in before)

        await engine.cancel(cid)  # the kill switch, another desk, the venue
        await desk.settle(pilot)
        assert engine.oms.orders[cid].order.status is OrderStatus.CANCELED
        assert desk.app.screen is screen
        assert " CANCELED " in title(screen)
        assert " NEW " not in title(screen)
        after = body_lines(screen)
        assert after[: len(before)] == before  # what was there stays as it was
        new = after[len(before) :]
        assert any("order.cancel" in line for line in new), after
        assert "CANCELED" in new[-1], after
        await desk.session.close()


async def test_fills_while_the_history_is_open(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        cid = "st000000000000000778"
        await desk.session.engine.submit(limit_buy(cid, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        screen = await open_history(desk, pilot, cid)
        assert "filled 0 " in title(screen)
        assert "fees" not in str(screen.query_one("#history-ids", Static).render())
        lines = len(body_lines(screen))

        await fill(desk, cid, 1, "0.5")
        await desk.settle(pilot)
        assert " PARTIALLY_FILLED " in title(screen) or " NEW " in title(screen)
        assert "filled 0.5 " in title(screen), title(screen)
        assert "fees 0.01 USDT" in str(screen.query_one("#history-ids", Static).render())
        shown = body_lines(screen)
        assert len(shown) == lines + 1
        assert shown[-1].split()[1] == "fill"
        assert "FILL BUY 0.5 ETHUSDT.PAPER @ 3,400.00" in shown[-1]

        await fill(desk, cid, 2, "1.5")
        await desk.settle(pilot)
        assert " FILLED " in title(screen), title(screen)
        assert "filled 2 " in title(screen)
        assert "fees 0.02 USDT" in str(screen.query_one("#history-ids", Static).render())
        assert body_lines(screen)[-1].split()[1] == "fill"
        await desk.session.close()


async def test_a_long_history_keeps_the_place_the_trader_scrolled_to(make_desk) -> None:
    """Scrolled to the top of a long history, a new event leaves the view where it is;
    at the bottom, the view follows the new lines. Lines already drawn are not drawn
    again for a new one."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        cid = "st000000000000000779"
        await desk.session.engine.submit(limit_buy(cid, ETH, "2", "3400.00"))
        for n in range(60):
            await fill(desk, cid, n, "0.01")
        await desk.settle(pilot)
        screen = await open_history(desk, pilot, cid)
        body = screen.query_one("#history-body", VerticalScroll)
        assert body.max_scroll_y > 0, "the history fits: the test shows nothing"
        assert body.scroll_offset.y == 0  # it opens at the oldest event
        first = screen.query_one("#history-events", Static)
        drawn = first.content

        await fill(desk, cid, 60, "0.01")
        await desk.settle(pilot)
        assert "filled 0.61 " in title(screen)
        assert body.scroll_offset.y == 0, "the view moved under the trader"
        assert first.content is drawn  # the first lines were not built again
        assert "FILL BUY 0.01 ETHUSDT.PAPER" in body_lines(screen)[-1]
        assert len(body_lines(screen)) == 1 + 2 + 61  # request, PENDING_NEW and NEW, fills

        body.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert body.scroll_offset.y == body.max_scroll_y
        end = body.max_scroll_y
        await fill(desk, cid, 61, "0.01")
        await desk.settle(pilot)
        assert body.max_scroll_y > end
        assert body.scroll_offset.y == body.max_scroll_y, "at the bottom: it follows"
        assert "filled 0.62 " in title(screen)
        await desk.session.close()
