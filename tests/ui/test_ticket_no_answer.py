"""A new order Binance took but never answered: the ticket and the toast say it was
sent and may be working, never "rejected" or "not placed" (a trader who believes that
sends it again and doubles). The real app and session, python-binance against the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from textual.pilot import Pilot

from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings

from .conftest import Desk, until
from .test_trading_keys import select_quote


@asynccontextmanager
async def eth_ticket(
    make_desk: Callable[..., Desk], *, request_timeout_s: float
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None], Ticket]]:
    """A desk on the fake Binance (and paper), its ticket open on an ETH buy of 0.1,
    the keyboard in its Price: the test types the price and sends."""
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000"}) as fake:
            await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
            config = binance_config(fake, ["ETHUSDT"], request_timeout_s=request_timeout_s)
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
                # The venue's quote stream tells changes: one once subscribed.
                await fake.set_book("ETHUSDT", [("1999.5", "5")], [("2000.5", "5")])
                await until(pilot, "the quote", lambda: "ETHUSDT.BINANCE" in model.quotes)
                await select_quote(desk, pilot, "ETHUSDT.BINANCE")
                await pilot.press("b")
                ticket = desk.app.screen.query_one(Ticket)
                await pilot.press("0", ".", "1", "tab")
                yield desk, fake, pilot, ticket


async def test_an_order_without_answer_is_said_sent_and_maybe_working(make_desk) -> None:
    async with eth_ticket(make_desk, request_timeout_s=0.5) as (desk, fake, pilot, ticket):
        await pilot.press(*"2000")
        draft = ticket.draft()
        assert (draft.quantity, draft.limit_price) == ("0.1", "2000")
        fake.swallow_next_order_reply()
        await pilot.press("f9")

        def status() -> str:
            return ticket.query_one("#t-status", TextBlock).text.plain

        await until(pilot, "the answer", lambda: not ticket.sending
                    and not status().startswith("sending"))  # fmt: skip
        shown = status()
        assert shown.startswith("NO ANSWER"), shown
        assert "REJECTED" not in shown
        # A toast is a message to the app: it is on the screen a beat after the
        # status the same answer wrote.
        title = "Order sent, no answer yet"
        await until(pilot, "the toast", lambda: any(
            n.title == title for n in desk.app._notifications))  # fmt: skip
        toasts = [(n.title, n.message) for n in desk.app._notifications]
        assert not [t for t, _ in toasts if "not placed" in t.lower()]
        [said] = [m for t, m in toasts if t == title]
        assert "do not send it again" in said
        # The venue took it once; nothing was sent again.
        assert fake.requests.count(("POST", "/api/v3/order")) == 1
        # F9 again: asked first. The venue's stream has told the desk the order
        # is working (NEW) meanwhile: no longer "no answer yet" (an order still
        # unknown at the venue: tests/ui/test_ticket_repeat.py).
        oms = desk.session.engine.oms
        await until(pilot, "NEW", lambda: [v.order.status.value for v in oms.working()]
                    == ["NEW"])  # fmt: skip
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.title_text.endswith(" again?")
        assert "ago as" in dialog.body
        assert ": this is a second order." in dialog.body
        assert "no answer yet" not in dialog.body
        await pilot.press("n")
        await desk.settle(pilot)
        assert fake.requests.count(("POST", "/api/v3/order")) == 1
        await desk.session.close()


async def test_an_order_the_stream_shows_while_its_reply_is_lost_is_said_so(make_desk) -> None:
    """Binance took the order and its user stream said NEW (journaled, in Orders) while
    the REST reply was lost: "sending ..." stood beside Send until the timeout, over an
    order the Orders pane showed working. It says what the journal shows meanwhile."""
    async with eth_ticket(make_desk, request_timeout_s=5.0) as (desk, fake, pilot, ticket):
        await pilot.press(*"1990")
        fake.swallow_next_order_reply()
        await pilot.press("f9")

        def status() -> str:
            return ticket.query_one("#t-status", TextBlock).text.plain

        coid = ticket._sent_id
        await until(pilot, "the order in the journal", lambda: (
            view := desk.app.desk.view.order(coid)) is not None
            and view.order.status.value == "NEW")  # fmt: skip
        await until(pilot, "said", lambda: "NEW at" in status())
        assert ticket.sending  # the reply is still awaited: nothing else said yet
        assert status() == (
            f"sending {short_id(coid)} ...: NEW at binance/spot, its answer not back yet"
        )
        await until(pilot, "the answer", lambda: not ticket.sending)
        await desk.settle(pilot)
        # The timeout's answer, then what became of it (the journal's NEW).
        assert status().startswith("NO ANSWER, then found working"), status()
        assert fake.requests.count(("POST", "/api/v3/order")) == 1
        await desk.session.close()
