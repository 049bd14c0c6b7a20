"""IB on a fallback client id, as the trader meets it at 80x24. TWS still held the
desk's client id 1 after a drop (326), the session came back on client id 2, and IB
lets only client id 1 change the order placed under it. The Health pane said `api LIVE`
and nothing else; a modify of that order was refused in a toast cut before its reason
(`stmxbg665r32j6p9l81r: modify of stmxbg665r32j6p9l81r not s...`). Now Health says
the client id in use and what it means, and the toast leads with the reason, naming
the order once, short. The real IB adapter through ib_async against the fake TWS."""

from __future__ import annotations

from textual.widgets import Input

from silvertine_tui.brokers.ib import IBBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import (
    ConnectionState,
    OrderStatus,
)
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.health import HealthPane
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxbg665r32j6p9l81r"


def fallback_desk(fake: FakeTws) -> Settings:
    return paper_and_ib(fake, client_id=1, client_id_fallbacks=[2])


async def test_on_a_fallback_client_id_health_says_it_and_the_modify_toast_says_why(
    make_desk,
) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=fallback_desk(fake))
        async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
            await desk.start(pilot)
            ib = desk.session.brokers[1]
            assert isinstance(ib, IBBroker)
            view = desk.session.projection
            await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
            engine = desk.session.engine
            await engine.submit(aapl_limit_buy(COID, fake.account))

            def status() -> OrderStatus | None:
                found = engine.oms.get(COID)
                return found.order.status if found is not None else None

            await until(pilot, "the order NEW", lambda: status() is OrderStatus.NEW)
            await pilot.press("6")
            await desk.settle(pilot)
            health = desk.app.screen.query_one(HealthPane)
            assert "fallback" not in health.text.plain  # on its own client id: nothing
            # The socket drops; TWS holds client id 1 a while yet: back on client id 2.
            fake.reserve_client_id(1)
            await fake.drop_connections()
            await until(
                pilot,
                "LIVE on client id 2",
                lambda: (
                    ib.client_id == 2
                    and view.broker_state("ib") is ConnectionState.LIVE
                    and "client id 2" in ib.health_state.links["api"].detail
                ),
            )
            await desk.settle(pilot)
            await until(
                pilot,
                "the api link's detail on the desk",
                lambda: "on client id 2, a fallback" in health.text.plain,
            )
            said = health.text.plain[health.text.plain.index("ib/DU") :]
            api = said[said.index("\n  api LIVE") :]
            assert "on client id 2, a fallback: client id 1 is in use at TWS (326)" in api, api
            assert "client id 1 cannot be" in api, api

            # A modify of the order placed under client id 1: refused, and the toast
            # leads with why, the order named once and short.
            await pilot.press("3", "home", "m")
            await pilot.pause()
            screen = desk.app.screen
            assert isinstance(screen, ModifyScreen)
            screen.query_one("#m-limit_price", Input).value = "148.10"
            await pilot.press("enter")
            await until(
                pilot,
                "the modify's answer",
                lambda: any(n.title == "Modify failed" for n in desk.app._notifications),
            )
            [message] = [n.message for n in desk.app._notifications if n.title == "Modify failed"]
            assert COID not in message, message
            assert message.count(short_id(COID)) == 1, message
            assert message.startswith("placed by this desk under client id 1"), message
            assert status() is OrderStatus.NEW
            await desk.session.close()


def test_the_failure_text_leads_with_the_reason() -> None:
    from silvertine_tui.ui.screens.main import failed_text

    assert (
        failed_text(
            f"modify of {COID} not sent: TWS has no working order for it in this session",
            COID,
            "modify",
        )
        == "TWS has no working order for it in this session; not sent (order j6p9l81r)"
    )
    assert (
        failed_text(f"modify of {COID}: TWS kept answering with pacing violations", COID, "modify")
        == "TWS kept answering with pacing violations (order j6p9l81r)"
    )
    # Named in the middle: once, short, nothing added.
    assert (
        failed_text(
            f"no answer from TWS to the cancel of {COID}; asking TWS for the order", COID, "cancel"
        )
        == "no answer from TWS to the cancel of j6p9l81r; asking TWS for the order"
    )
    assert failed_text("venue refused: -2011 Unknown order", COID, "cancel") == (
        "venue refused: -2011 Unknown order (order j6p9l81r)"
    )


def test_health_says_a_fallback_the_adapter_gave_only_the_326_for() -> None:
    """What the reviewer's desk published: on client id 2 with client id 1 in use, no
    word of orders out of reach (the adapter did not know of them yet): the pane says
    what a fallback means itself. On its own client id, nothing more than `api LIVE`."""
    from silvertine_tui.domain import TradingState
    from silvertine_tui.ui.widgets.health import BrokerLine, BusLine, LinkLine

    def api_line(detail: str, state: ConnectionState = ConnectionState.LIVE) -> str:
        broker = BrokerLine(
            name="ib/DU123456",
            state=ConnectionState.LIVE,
            latency_ms=None,
            last_age_s=0.5,
            reconnects=1,
            rate_limit="-",
            message="",
            links=(LinkLine("api", state, detail),),
        )
        bus = BusLine(
            backend="memory",
            url="memory://",
            connected=True,
            state=ConnectionState.LIVE,
            events_per_s=0,
            lag_ms=0,
            decode_errors=0,
            restarts=0,
            data_loss=0,
            message="",
        )
        text = HealthPane().render_text([broker], bus, TradingState.ACTIVE).plain
        return next(line for line in text.splitlines() if line.startswith("  api "))

    on_fallback = api_line(
        "127.0.0.1:17498 client id 2 (paper account); client id 1 is in use at TWS (326)"
    )
    assert on_fallback == (
        "  api LIVE on client id 2, a fallback: client id 1 is in use at TWS (326); orders "
        "placed under client id 1 cannot be modified or cancelled from here (cancel all, "
        "the kill switch or TWS still cancel them)"
    )
    assert api_line("127.0.0.1:17498 client id 1 (paper account)") == "  api LIVE"
    assert api_line("127.0.0.1:17498 client id 1 (paper account); answers again") == "  api LIVE"
    # Staying on the fallback for an order of its own there: nothing out of reach.
    assert (
        api_line(
            "127.0.0.1:17498 client id 2 (paper account); staying while an order "
            "of this desk works under client id 2"
        )
        == "  api LIVE"
    )
    # Not LIVE: the detail itself, as before.
    assert api_line("connecting to 127.0.0.1:17498 as client id 2", ConnectionState.CONNECTING) == (
        "  api CONNECTING connecting to 127.0.0.1:17498 as client id 2"
    )
