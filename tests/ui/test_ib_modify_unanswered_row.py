"""A modify TWS answers late reads as not known yet in its Orders row (a trader's review
of the IB desk).

The modify's wait (`order_timeout_s`) ran out; TWS, asked, reported the order working
at its terms before the modify, which it may still take (`delay_next_modify`: an
exchange slow to confirm a replace). Between the timeout and TWS's answer the row read
plain `NEW` at the old price, as if the modify had been refused or never sent, while a
cancel whose answer is late reads with the pane's `?`. Now the row reads `NEW?` in the
warning colour and the pane's edge says the modify's outcome is not known yet; when
TWS answers, the row reads its answer: the new price, or the old one when TWS refuses
the change late, unmarked. The Log says the modify unanswered once (the journal's
line; the mark adds none), and then TWS's answer. At 120x36 and at 80x24 (one pane
at a time). The real IB adapter through ib_async against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxbg665r32j6p9l8aa"
SIZES = [(120, 36), (80, 24)]
UNANSWERED = "no answer to the modify"


def row(desk: Desk) -> list[str]:
    return [c.plain for c in desk.app.screen.query_one(Blotter)._cells[COID]]


def status_cell(desk: Desk) -> tuple[str, str]:
    cell = desk.app.screen.query_one(Blotter)._cells[COID][Blotter.COLUMNS.index(STATUS)]
    return cell.plain.strip(), str(cell.style)


STATUS = next(c for c in Blotter.COLUMNS if c.key == "status")
PRICE = next(i for i, c in enumerate(Blotter.COLUMNS) if c.key == "price")


def edge(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-blotter", Pane).border_subtitle or "")


def log_lines(desk: Desk) -> list[str]:
    return [line.text for line in desk.app.model.log]


def asked(desk: Desk) -> bool:
    """The journal has TWS's word on the order after the modify's wait ran out."""
    found = desk.session.projection.order(COID)
    return found is not None and any(
        isinstance(e, OrderUpdateEvent) and UNANSWERED in e.payload.reason for e in found.history
    )


async def modify_unanswered(
    desk: Desk, pilot: Pilot[None], fake: FakeTws, delay: float, *, refused: str = ""
) -> None:
    """BUY 5 AAPL at 148.20 working at IB, changed to 148.10 in the modify dialog; TWS
    takes the change only `delay` s later, past the 0.3 s the desk waits (to refuse it
    with 201 and `refused`, when given): the toast says no answer yet, and TWS, asked,
    reports the order NEW at 148.20."""
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
    await desk.session.engine.submit(aapl_limit_buy(COID, fake.account))
    await until(
        pilot,
        "the order NEW",
        lambda: (v := view.order(COID)) is not None and v.order.status is OrderStatus.NEW,
    )
    await desk.settle(pilot)
    if refused:
        fake.reject_next_order(201, refused)
    fake.delay_next_modify(delay)
    await pilot.press("3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    screen.query_one("#m-limit_price", Input).value = "148.10"
    await pilot.press("enter")
    await until(pilot, "the order NEW again at 148.20, TWS asked", lambda: asked(desk))
    await until(
        pilot,
        "the modify's toast",
        lambda: any(n.title == "Modify sent, no answer yet" for n in desk.app._notifications),
    )
    await desk.settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_modify_answered_late_reads_not_known_until_tws_answers(make_desk, size) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.3))
        async with desk.app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            await modify_unanswered(desk, pilot, fake, delay=1.5)
            view = desk.session.projection
            order = view.order(COID)
            assert order is not None
            assert (order.order.status, order.order.limit_price) == (
                OrderStatus.NEW,
                Decimal("148.20"),
            )
            # Between the timeout and TWS's answer: not known, said in the row.
            assert row(desk)[PRICE] == "148.20"
            text, style = status_cell(desk)
            assert text == "NEW?", row(desk)
            assert style == str(desk.app.screen.query_one(Blotter).palette.warn), style
            if size == (120, 36):
                said = edge(desk)
                assert said.startswith("ib/DU123456: 1 modify not answered yet; "), said
            # TWS takes the change: its answer, unmarked.
            await until(
                pilot,
                "TWS's late confirmation",
                lambda: (
                    (v := view.order(COID)) is not None and v.order.limit_price == Decimal("148.10")
                ),
            )
            await desk.settle(pilot)
            await until(pilot, "the mark gone", lambda: status_cell(desk)[0] == "NEW")
            assert row(desk)[PRICE] == "148.10"
            assert "not answered" not in edge(desk), edge(desk)
            # The Log: the modify unanswered said once (the journal's line), then TWS's
            # answer; the mark added no line.
            lines = log_lines(desk)
            assert sum(UNANSWERED in line for line in lines) == 1, lines
            assert sum("modify accepted late" in line for line in lines) == 1, lines
            assert not any("unanswered" in line for line in lines), lines
            await desk.session.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_modify_tws_refuses_late_reads_its_refusal(make_desk, size) -> None:
    """TWS takes the change late only to refuse it (201): the row reads the order as it
    works, at the old price, unmarked, and the Log says the modify was refused."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.3))
        async with desk.app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            why = "Order rejected - reason:Price too far from market"
            await modify_unanswered(desk, pilot, fake, delay=1.0, refused=why)
            assert status_cell(desk)[0] == "NEW?", row(desk)
            await until(pilot, "TWS's late refusal", lambda: len(fake.rejected) == 1)
            await until(pilot, "the mark gone", lambda: status_cell(desk)[0] == "NEW")
            await desk.settle(pilot)
            assert row(desk)[PRICE] == "148.20"
            assert "not answered" not in edge(desk), edge(desk)
            lines = log_lines(desk)
            [refused] = [line for line in lines if "Price too far from market" in line]
            assert "modify refused" in refused, refused
            assert "works on unchanged" in refused, refused
            assert sum(UNANSWERED in line for line in lines) == 1, lines
            view = desk.session.projection
            order = view.order(COID)
            assert order is not None
            assert (order.order.status, order.order.limit_price) == (
                OrderStatus.NEW,
                Decimal("148.20"),
            )
            await desk.session.close()
