"""A modify of an order whose last change's outcome is not known is refused before the
dialog opens: the dialog opened at the terms before that change, and a field left as it
opened is not sent, so a new quantity alone went out at the newer price the venue held
(0.02 @ 63,480.00 at the venue and in the journal, the dialog having shown 0.02 @
63,500.00: a review). On a real Redis, killed while the orders rest; the row reads
`NEW mod…` until the journal shows the change."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.screens.modify import ModifyScreen
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, until
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_ib_modify_unanswered_row import COID, modify_unanswered
from .test_ib_modify_unanswered_row import status_cell as ib_status_cell
from .test_outage_rows_cancel import FIRST, SECOND, resting_orders, status_cell


@pytest.mark.redis
async def test_a_row_whose_change_the_journal_has_not_shown_refuses_another(
    tmp_path: Path, clock: FakeClock, key_prefix: str
) -> None:
    with RedisServer() as server:
        options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("3", "home", "m")
            await frames_until(app, pilot, lambda: isinstance(app.screen, ModifyScreen))
            app.screen.query_one("#m-limit_price", Input).value = "63480.00"
            await pilot.press("enter")
            await frames_until(app, pilot, lambda: status_cell(desk, FIRST) == "NEW mod…")
            await pilot.press("3", "home", "m")
            await frames_until(
                app,
                pilot,
                lambda: any(n.title == "Modify refused" for n in app._notifications),
            )
            assert not isinstance(app.screen, ModifyScreen)
            [said] = [n.message for n in app._notifications if n.title == "Modify refused"]
            assert said.startswith(f"order {FIRST[-8:]} was changed while the bus is down"), said
            assert "nothing sent" in said
            [venue] = [
                o for o in await session.brokers[0].open_orders() if o.client_order_id == FIRST
            ]
            assert venue.limit_price == 63480  # the one change, not another
            await session.close()


async def test_a_row_whose_change_the_venue_has_not_answered_refuses_another(make_desk) -> None:
    """IB: the modify's wait ran out, TWS may still take it (the row `NEW?`): another
    change is refused until TWS answers, then goes as usual."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.3))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await modify_unanswered(desk, pilot, fake, delay=2.5)
            assert ib_status_cell(desk)[0] == "NEW?"
            await pilot.press("3", "home", "m")
            await until(
                pilot,
                "the refusal",
                lambda: any(n.title == "Modify refused" for n in desk.app._notifications),
            )
            assert not isinstance(desk.app.screen, ModifyScreen)
            [said] = [n.message for n in desk.app._notifications if n.title == "Modify refused"]
            assert said.startswith(f"order {COID[-8:]}: ib has not answered its last change"), said
            # TWS answers: the row unmarked, a change opens the dialog again.
            await until(pilot, "the mark gone", lambda: ib_status_cell(desk)[0] == "NEW")
            await pilot.press("3", "home", "m")
            await pilot.pause()
            assert isinstance(desk.app.screen, ModifyScreen)
            await pilot.press("escape")
            await desk.session.close()
