"""Fills make at most one toast a second: a burst is one "N fills" toast naming the
first few, and the Log keeps every fill."""

from __future__ import annotations

from .conftest import market_buy


async def test_a_burst_of_fills_is_one_toast_a_second(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine

        async def buy(n: int) -> None:
            await engine.submit(market_buy(f"burst-{n}", "ETHUSDT.PAPER", "0.01"))

        def fill_toasts() -> list[tuple[str, str]]:
            return [(n.title, n.message) for n in desk.app._notifications if "ill" in n.title]

        await buy(0)
        await desk.settle(pilot)
        assert [title for title, _ in fill_toasts()] == ["Fill"]  # the first one at once
        for n in range(1, 9):  # (the order-rate limit is 10 a second)
            await buy(n)
        await desk.settle(pilot)
        assert len(fill_toasts()) == 1  # the rest of this second waits
        desk.clock.advance(1.0)
        await desk.settle(pilot)
        toasts = fill_toasts()
        assert [title for title, _ in toasts] == ["Fill", "8 fills"]
        assert toasts[1][1].startswith("BUY 0.01 ETHUSDT.PAPER @ ")
        assert toasts[1][1].endswith("\nand 5 more: the Log has them all (7, f)")
        assert len(desk.app.model.fills) == 9
        await desk.session.close()
