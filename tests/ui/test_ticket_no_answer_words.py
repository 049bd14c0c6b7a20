"""After a new order Binance took without an answer (NO ANSWER), the ticket listed
the timeout under the heading "F9 again would not be sent:", while F9 again does send
(after its 'again?' confirmation); the heading now heads the check's own problems only.
Seen on the desk against the fake at 120x36 (a trader's review):

     Send F9       NO ANSWER: it may be working, see below
 F9 again would not be sent:
 new order ETHUSDT ...: Binance could not say whether the order was taken (code -1007 ...
 HTTP 503). Its status is being checked; do not send it again. [BrokerTimeout]

and F9 opened "Send BUY 0.1 ETHUSDT.BINANCE LIMIT @ 3,101.00 GTC again?"."""

from __future__ import annotations

from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401
from tests.ui.test_trading_keys import select_quote


async def test_the_ticket_never_says_f9_would_not_send_what_it_sends(make_desk) -> None:  # noqa: F811
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000"}) as fake:
            await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
            config = binance_config(fake, ["ETHUSDT"], request_timeout_s=0.5)
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            desk: Desk = make_desk(settings=Settings(brokers=[paper, config]))
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_book("ETHUSDT", [("1999.5", "5")], [("2000.5", "5")])
                await until(pilot, "the quote", lambda: "ETHUSDT.BINANCE" in model.quotes)
                await select_quote(desk, pilot, "ETHUSDT.BINANCE")
                await pilot.press("b")
                ticket = desk.app.screen.query_one(Ticket)
                await pilot.press("0", ".", "1", "tab")
                await pilot.press(*"2000")
                fake.fail_next_requests(1, status=503, after_processing=True,
                                        path="/api/v3/order", method="POST")  # fmt: skip
                await pilot.press("f9")

                def text(widget_id: str) -> str:
                    return ticket.query_one(widget_id, TextBlock).text.plain

                await until(pilot, "NO ANSWER", lambda: text("#t-status").startswith("NO ANSWER"))
                oms = desk.session.engine.oms
                await until(pilot, "NEW", lambda: [v.order.status.value for v in oms.working()]
                            == ["NEW"])  # fmt: skip
                await desk.settle(pilot)
                said = text("#t-problems")
                desk.clock.advance(1.0)
                await pilot.press("f9")
                await pilot.pause()
                # F9 again is asked, then sent on y: the ticket must not have said it
                # would not be sent.
                assert isinstance(desk.app.screen, ConfirmScreen)
                assert "would not be sent" not in said, said
                await pilot.press("n")
                await desk.settle(pilot)
            await desk.session.close()
