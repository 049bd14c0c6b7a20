"""Every fill shows at once in the header's fill line (the newest, and how many more
came in the five seconds before it); no fill makes a toast, so none mounts or
unmounts a widget (a layout of the whole screen each). The Log keeps every fill."""

from __future__ import annotations

import re

import pytest

from .conftest import market_buy, record_dirty


def header_text(desk) -> str:
    from silvertine_tui.ui.widgets.header import DeskHeader

    return str(desk.app.screen.query_one(DeskHeader).render())


async def test_every_fill_shows_in_the_header_without_a_toast(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        toasts_before = len(desk.app._notifications)

        async def buy(n: int, quantity: str) -> None:
            await engine.submit(market_buy(f"burst-{n}", "ETHUSDT.PAPER", quantity))

        await buy(0, "0.01")
        await desk.settle(pilot)
        line = re.compile(r"FILL BUY (\S+) ETHUSDT\.PAPER @ \d,\d{3}\.\d{2}( \+(\d+))?  ")
        shown = line.search(header_text(desk))
        assert shown is not None, header_text(desk)
        assert shown.group(1) == "0.01"  # the first one at once
        assert shown.group(2) is None
        for n in range(1, 9):  # (the order-rate limit is 10 a second)
            await buy(n, f"0.0{n + 1}")
            await desk.settle(pilot)
            shown = line.search(header_text(desk))
            assert shown is not None, header_text(desk)
            assert shown.group(1) == f"0.0{n + 1}"  # the newest, at once
            assert shown.group(3) == str(n)  # and every one before it counted
        assert len(desk.app.model.fills) == 9
        assert len(desk.app._notifications) == toasts_before  # no toast for a fill
        desk.clock.advance(5.0)  # five seconds after the last fill, the line is gone
        await desk.settle(pilot)
        assert "FILL" not in header_text(desk)
        await desk.session.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_fill_line_fits_the_header(make_desk, size: tuple[int, int]) -> None:
    """At 80 columns the fill line goes before the desk's name; the PAPER marker, the
    trading state and the clock always stay."""
    desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        for n in range(12):
            await desk.session.engine.submit(market_buy(f"fit-{n}", "BTCUSDT.PAPER", "0.015"))
            desk.clock.advance(0.2)  # (the order-rate limit is 10 a second)
            await desk.settle(pilot)
        text = header_text(desk)
        assert len(text) == size[0]
        assert text.startswith(" PAPER ")
        assert " ACTIVE " in text
        assert re.search(r"FILL BUY 0\.015 BTCUSDT\.PAPER @ \d\d,\d{3}\.\d{2} \+11 ", text), text
        assert text.endswith(" UTC ")
        assert ("SILVERTINE" in text) is (size[0] > 80)
        await desk.session.close()


async def test_a_new_fill_repaints_only_its_cells_left_of_the_ticket(make_desk) -> None:
    """Textual renders every widget inside the box around a frame's changed regions: a
    fill repainting the whole header line would pull the right column (the ticket) into
    every frame. A fill after a fill repaints the fill's cells only, left of the
    ticket; the line still shows the newest."""
    from silvertine_tui.ui.widgets.header import DeskHeader

    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("first", "ETHUSDT.PAPER", "0.01"))
        await desk.settle(pilot)
        header = desk.app.screen.query_one(DeskHeader)
        dirty = record_dirty(header)
        desk.clock.advance(0.1)  # (the order-rate limit; the same second)
        await engine.submit(market_buy("second", "ETHUSDT.PAPER", "0.02"))
        await desk.settle(pilot)
        assert dirty, "the second fill did not repaint the header"
        ticket = desk.app.screen.query_one("#pane-ticket").region
        for region in dirty:
            assert region.width < header.size.width, f"the whole line repainted: {region}"
            assert region.right <= ticket.x, f"{region} reaches the ticket at x={ticket.x}"
        assert "FILL BUY 0.02 ETHUSDT.PAPER @ " in header_text(desk)
        assert " +1 " in header_text(desk)
        await desk.session.close()
