"""Two LOWs of a trader's drill as the screen shows them (tests/unit/test_ib_drill_lows.py
pins the adapter's side): the real IB adapter through ib_async against the fake TWS.

D8. An order TWS did not answer was toasted `Order sent, no answer yet: no answer from
TWS to order stmxddgy451jjetida24 in 5s`: named by its whole client id where the desk
names orders by their short id (the Orders pane's Id, the ticket's `sent`). The toast
names it short.

D3. TWS killed: the Health pane read `api DISCONNECTED no TWS or IB Gateway listening
...` with `ib LIVE` under it. TWS's link to IB cannot be known then: the `ib` line says
so, and how it was last heard; it is LIVE again once the desk has reconnected."""

from __future__ import annotations

from silvertine_tui.domain import ConnectionState
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.widgets.health import HealthPane
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until
from .test_ticket_venue_answer import order_of, unanswered

TITLE = "Order sent, no answer yet"


def health_text(desk: Desk) -> str:
    return desk.app.screen.query_one(HealthPane).text.plain.replace("\n    ", " ")


def ib_line(desk: Desk) -> str:
    """The Health pane's line of the `ib` link (under the IB broker)."""
    lines = health_text(desk).splitlines()
    [line] = [s for s in lines if s.strip().startswith("ib ")]
    return line.strip()


async def test_no_answer_toast_names_the_order_short(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake, order_timeout_s=0.5))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await unanswered(desk, pilot, fake, "lost")
            coid = order_of(desk)
            await until(
                pilot,
                "the toast",
                lambda: any(n.title == TITLE for n in desk.app._notifications),
            )
            [message] = [n.message for n in desk.app._notifications if n.title == TITLE]
            assert f"no answer from TWS to order {short_id(coid)} in 0.5s" in message, message
            assert coid not in message, message
            await desk.session.close()


async def test_health_says_the_ib_link_is_not_known_while_tws_is_away(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            view = desk.session.projection
            await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
            port = fake.port
            await until(pilot, "ib LIVE shown", lambda: ib_line(desk) == "ib LIVE")
            await fake.stop()  # killed -9
            await until(
                pilot,
                "api DISCONNECTED shown",
                lambda: "no TWS or IB Gateway listening" in health_text(desk),
            )
            await until(pilot, "the ib line", lambda: ib_line(desk).startswith("ib DISCONNECTED"))
            assert ib_line(desk).startswith(
                "ib DISCONNECTED not known while TWS is unreachable (as last heard: LIVE)"
            ), health_text(desk)
            await fake.start(port)
            await until(
                pilot, "IB LIVE again", lambda: view.broker_state("ib") is ConnectionState.LIVE
            )
            await until(pilot, "ib LIVE shown again", lambda: ib_line(desk) == "ib LIVE")
            await desk.session.close()
