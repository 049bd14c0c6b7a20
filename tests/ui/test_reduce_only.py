"""REDUCE ONLY from the desk. Entering it cancels the working orders that would add to
a position; from the palette it went at once, the orders with it, where cancel-all and
the kill switch ask first. It now asks when it would cancel anything, says how many go
and how many stay, and sends nothing on `n`."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.domain import OrderStatus, OrderType, Side, TimeInForce, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.keybar import KeyBar

from .conftest import Desk, market_buy


async def rest(desk: Desk, pilot: Pilot[None], coid: str, side: Side, ticks_away: int) -> None:
    """A limit order on ETH `ticks_away` ticks behind the touch: it rests."""
    engine = desk.session.engine
    quote = desk.app.model.quotes["ETHUSDT.PAPER"].quote
    assert quote.bid is not None
    assert quote.ask is not None
    instrument = engine.instrument("paper", "ETHUSDT.PAPER")
    assert instrument is not None
    away = ticks_away * instrument.tick_size
    price = quote.bid - away if side is Side.BUY else quote.ask + away
    request = market_buy(coid, "ETHUSDT.PAPER", "0.2").model_copy(
        update={
            "side": side,
            "order_type": OrderType.LIMIT,
            "limit_price": price,
            "tif": TimeInForce.GTC,
        }
    )
    await engine.submit(request)
    await desk.settle(pilot)
    assert engine.oms.orders[coid].order.status is OrderStatus.NEW


async def long_one_eth(desk: Desk, pilot: Pilot[None]) -> TradingEngine:
    """The desk started, long 1 ETH (bought at the market); its engine."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    engine = desk.session.engine
    await engine.submit(market_buy("long", "ETHUSDT.PAPER", "1"))
    await desk.settle(pilot)
    assert engine.position("paper", "main", "ETHUSDT.PAPER") == Decimal(1)
    return engine


async def from_the_palette(desk: Desk, pilot: Pilot[None]) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*"reduce only", "enter")
    await desk.settle(pilot)


def dialog_text(desk: Desk) -> str:
    screen = desk.app.screen
    assert isinstance(screen, ConfirmScreen), type(screen).__name__
    return f"{screen.title_text}\n{screen.body}"


async def test_reduce_only_asks_before_it_cancels_orders_that_add(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        engine = await long_one_eth(desk, pilot)
        await rest(desk, pilot, "adds", Side.BUY, 20)  # long and buying more
        await rest(desk, pilot, "reduces", Side.SELL, 20)  # selling some of it
        await from_the_palette(desk, pilot)
        text = dialog_text(desk)
        assert "Enter REDUCE ONLY?" in text
        assert "1 working order(s) that would add to a position are cancelled." in text
        assert "1 that reduce one stay working." in text
        assert engine.gate.state is TradingState.ACTIVE  # nothing yet
        await pilot.press("enter")  # the focus is on Cancel
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert engine.gate.state is TradingState.ACTIVE
        assert engine.oms.orders["adds"].order.status is OrderStatus.NEW
        await from_the_palette(desk, pilot)
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.REDUCE_ONLY
        assert engine.oms.orders["adds"].order.status is OrderStatus.CANCELED
        assert engine.oms.orders["reduces"].order.status is OrderStatus.NEW
        # Already there: said, nothing asked.
        await from_the_palette(desk, pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert any(n.message == "trading is already REDUCE ONLY" for n in desk.app._notifications)
        await desk.session.close()


async def test_reduce_only_with_nothing_to_cancel_goes_at_once(make_desk) -> None:
    """Only orders that reduce are working: entering REDUCE ONLY cancels nothing, and
    only refuses orders from now on, so it is not asked."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        engine = await long_one_eth(desk, pilot)
        await rest(desk, pilot, "reduces", Side.SELL, 20)
        await from_the_palette(desk, pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert engine.gate.state is TradingState.REDUCE_ONLY
        assert engine.oms.orders["reduces"].order.status is OrderStatus.NEW
        await desk.session.close()


async def test_a_kill_while_the_dialog_is_open_is_not_lifted_by_its_answer(make_desk) -> None:
    """The dialog asked to leave ACTIVE; another desk's kill switch halted trading while
    it was open. `y` sent REDUCE ONLY all the same and took the desk out of HALTED
    without the trader ever reading "Leave HALTED for REDUCE ONLY?". The dialog now
    says the state moved and its `y` does nothing (the command would also be refused:
    it carries the state it was confirmed to leave, tests/unit/test_commands.py)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await rest(desk, pilot, "adds", Side.BUY, 20)
        await from_the_palette(desk, pilot)
        assert "Enter REDUCE ONLY?" in dialog_text(desk)
        await engine.kill("kill switch (another desk)")
        await desk.settle(pilot)
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.stale == "trading is HALTED meanwhile"
        said = str(dialog.query_one("#dialog-moved", Static).render())
        assert said.startswith("trading is HALTED meanwhile: asked of the desk as it was, so y")
        # The key bar names `y` as the button does, and dims it as the button is.
        bar = dialog.query_one(KeyBar)
        assert " y Reduce only " in bar.render().plain
        assert ("confirm", False) in [(b.action, on) for b, on in bar.bindings()]
        bells: list[None] = []
        desk.app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
        await pilot.press("y")
        await desk.settle(pilot)
        assert len(bells) == 1  # heard: the press is not taken for an answer
        assert desk.app.screen is dialog  # still asking nothing new; esc closes it
        assert engine.gate.state is TradingState.HALTED
        await pilot.press("escape")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert engine.gate.state is TradingState.HALTED
        await desk.session.close()


async def test_a_kill_while_the_resume_dialog_is_open_stays(make_desk) -> None:
    """The same for resume: asked over REDUCE ONLY, a kill meanwhile, `y` resumed."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        engine = desk.session.engine
        await engine.set_trading_state(TradingState.REDUCE_ONLY)
        await desk.settle(pilot)
        # The header's words in Health and the dialog too (they read REDUCE_ONLY).
        assert "Trading REDUCE ONLY" in desk.app.screen.query_one(HealthPane).text.plain
        await pilot.press("ctrl+r")
        await desk.settle(pilot)
        assert "Trading is REDUCE ONLY" in dialog_text(desk)
        await engine.kill("kill switch (another desk)")
        await desk.settle(pilot)
        await pilot.press("y")
        await desk.settle(pilot)
        assert engine.gate.state is TradingState.HALTED
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.stale == "trading is HALTED meanwhile"
        await desk.session.close()
