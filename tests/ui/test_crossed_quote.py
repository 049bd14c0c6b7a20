"""A crossed quote (the bid above the ask) is bad data, or a crossed market for a
moment: no price anyone deals at. A chaos drill sent IB a tick bid 151 / ask 149 and
Binance a bookTicker b 610 / a 590: the Quotes row showed a spread of -20.00, nothing
counted it, and `b` prefilled a buy at the crossed ask (590, under a 610 bid).

Now the row says `crossed` in the warning colour, the desk counts every crossed quote
read and says in the Log when an instrument's quote turns crossed, and the ticket
prefills no price from it (saying why) and, while it lasts, says what the collar goes by:
a crossed quote has no mid, so its last trade marks it when it carries one (IB), else the
mark before it stands (Binance's bookTicker has none), else nothing is checked against
the market. The real adapters run against the wire-level fakes (python-binance, ib_async).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import Input

from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.events import QuoteEvent, encode
from silvertine_tui.ui.model import FeedModel, LineKind
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from silvertine_tui.ui.widgets.watchlist import Watchlist
from tests.fakes.binance import FakeBinance
from tests.fakes.tws import FakeTws
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings
from tests.support.ib import paper_and_ib

from .conftest import Desk, market_buy, until
from .test_quotes_fit import MUST, traded_desk
from .test_trading_keys import select_quote

ETH = "ETHUSDT.BINANCE"
AAPL = "AAPL.SMART"
CROSSED = "crossed"  # what the row says


def is_crossed(quote: Quote) -> bool:
    """The bid above the ask, both sides priced (an empty side, sent as 0, is none)."""
    bid, ask = quote.bid, quote.ask
    return bid is not None and ask is not None and bid > 0 and ask > 0 and bid > ask


def ticket_of(desk: Desk) -> Ticket:
    return desk.app.screen.query_one(Ticket)


def status(desk: Desk) -> str:
    return ticket_of(desk).query_one("#t-status", TextBlock).text.plain


def preview(desk: Desk) -> str:
    return ticket_of(desk).query_one("#t-preview", TextBlock).text.plain


def crossed_lines(desk: Desk, key: str) -> list[str]:
    return [
        line.text for line in desk.app.model.log if line.text.startswith(f"{key} quote crossed")
    ]


async def set_price(desk: Desk, pilot, value: str) -> None:
    field = ticket_of(desk).query_one("#t-limit_price", Input)
    field.value = value
    await pilot.pause()
    ticket_of(desk).run_check()


async def test_a_crossed_binance_quote_is_marked_counted_and_prefills_no_price(
    make_desk,
) -> None:
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000"}) as fake:
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            config = binance_config(fake, ["ETHUSDT"])
            desk: Desk = make_desk(settings=Settings(brokers=[paper, config]))
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_quote("ETHUSDT", "599", "601")
                projection = desk.session.engine.projection
                await until(pilot, "the mark", lambda: projection.last_price(ETH) == 600)
                watchlist = desk.app.screen.query_one(Watchlist)
                palette = watchlist.palette

                def drawn(text: str) -> bool:
                    desk.app.frame()
                    return watchlist.get_cell(ETH, "spread").plain == text

                await until(pilot, "the quote", lambda: drawn("2.00"))

                # The drill: bookTicker b 610 / a 590.
                await fake.set_quote("ETHUSDT", "610", "590")
                await until(pilot, "the crossed row", lambda: drawn(CROSSED))
                assert watchlist.get_cell(ETH, "spread").style == palette.warn
                assert watchlist.get_cell(ETH, "bid").plain == "610.00"
                assert watchlist.get_cell(ETH, "bid").style == palette.warn
                assert watchlist.get_cell(ETH, "ask").plain == "590.00"
                assert watchlist.get_cell(ETH, "ask").style == palette.warn
                assert model.crossed >= 1
                assert model.crossed_by[ETH] == model.crossed
                (line,) = crossed_lines(desk, ETH)
                assert line.startswith(
                    f"{ETH} quote crossed: bid 610.00 above ask 590.00 (bad data, or a "
                    "crossed market for a moment): no mid, the mark before it stands; no "
                    "price is prefilled from it ("
                ), line
                (logged,) = [x for x in model.log if x.text == line]
                assert logged.line_kind is LineKind.WARN
                # The mark stays the last mid: no price was dealt at in between.
                assert projection.last_price(ETH) == 600

                # `b` prefills no price from it, and says why.
                await select_quote(desk, pilot, ETH)
                await pilot.press("b")
                ticket = ticket_of(desk)
                assert ticket.draft().instrument == ETH
                assert ticket.draft().limit_price == ""
                assert status(desk) == (
                    "quote crossed (bid 610.00 above ask 590.00): no price prefilled, type one"
                )
                said = (
                    "quote crossed (bid 610.00 above ask 590.00): no mid; the collar goes by "
                    "the mark before it, mid 600.00 [crossed_quote]"
                )
                assert said in preview(desk)  # said with no price typed yet
                await pilot.press("ctrl+s")  # flipped to sell: not the crossed bid either
                assert ticket.draft().limit_price == ""
                # A price typed: the collar's mark is said beside the preview.
                await set_price(desk, pilot, "600")
                assert said in preview(desk)

                # The market uncrossed: the row and the ticket as before.
                await fake.set_quote("ETHUSDT", "604", "606")
                await until(pilot, "the quote again", lambda: drawn("2.00"))
                assert watchlist.get_cell(ETH, "bid").style == palette.bid
                ticket.run_check()
                assert "crossed" not in preview(desk)
                await pilot.press("escape", "escape")
                await select_quote(desk, pilot, ETH)
                await pilot.press("b")
                assert ticket_of(desk).draft().limit_price == "606.00"
                assert "crossed" not in status(desk)
                await desk.session.close()


async def test_a_crossed_ib_quote_is_marked_and_the_collar_goes_by_its_last_trade(
    make_desk,
) -> None:
    """IB's first quote of AAPL crossed (tick bid 151 / ask 149), no trade yet: no mark
    at all, and the ticket says nothing is checked against the market. Then a trade
    prints at 150.50 while it stays crossed: the last trade marks it, and the collar goes
    by it."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            model = desk.app.model
            component = "broker:ib/DU123456"
            await until(pilot, "IB LIVE in health", lambda: component in model.health
                        and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
            projection = desk.session.engine.projection
            await fake.set_quote("AAPL", "151", "149")
            await until(pilot, "the crossed quote", lambda: AAPL in model.quotes
                        and is_crossed(model.quotes[AAPL].quote))  # fmt: skip
            assert projection.last_price(AAPL) is None
            desk.app.frame()
            watchlist = desk.app.screen.query_one(Watchlist)
            assert watchlist.get_cell(AAPL, "spread").plain == CROSSED
            assert watchlist.get_cell(AAPL, "spread").style == watchlist.palette.warn
            assert watchlist.get_cell(AAPL, "ask").style == watchlist.palette.warn
            assert model.crossed_by[AAPL] >= 1
            (line,) = crossed_lines(desk, AAPL)
            assert "bid 151.00 above ask 149.00" in line
            assert "no mid, no mark yet; no price is prefilled from it" in line

            await select_quote(desk, pilot, AAPL)
            await pilot.press("s")
            assert ticket_of(desk).draft().instrument == AAPL
            assert ticket_of(desk).draft().limit_price == ""  # not the crossed bid, 151
            assert status(desk) == (
                "quote crossed (bid 151.00 above ask 149.00): no price prefilled, type one"
            )
            await set_price(desk, pilot, "150")
            assert (
                "quote crossed (bid 151.00 above ask 149.00): no mid; no mark yet: no price "
                "is checked against the market [crossed_quote]"
            ) in preview(desk)

            await fake.set_quote("AAPL", "151", "149", last="150.50")
            await until(pilot, "the last trade's mark",
                        lambda: projection.last_price(AAPL) == Decimal("150.50"))  # fmt: skip
            assert projection.mark_basis(AAPL) == "last trade"
            await until(pilot, "the quote with its trade",
                        lambda: model.quotes[AAPL].quote.last == Decimal("150.50"))  # fmt: skip
            assert model.quotes[AAPL].crossed  # the row's state: crossed still
            ticket_of(desk).run_check()
            assert (
                "quote crossed (bid 151.00 above ask 149.00): no mid; the collar goes by the "
                "last trade 150.50 [crossed_quote]"
            ) in preview(desk)
            assert len(crossed_lines(desk, AAPL)) == 1  # still the one crossing
            await desk.session.close()


async def test_without_the_spread_column_a_crossed_row_says_so_in_its_change(make_desk) -> None:
    """At 100x28 (the grid: the pane is narrow) the Spread column is not shown: the row
    says `crossed` in its Chg% cell (its bid and ask in the warning colour either way)."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(100, 28)) as pilot:
        watchlist = await traded_desk(desk, pilot)  # a last trade each: the widest rows
        assert watchlist.shown_columns == MUST
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        key = "ETHUSDT.PAPER"
        last = desk.app.model.quotes[key].quote.last
        crossed = Quote(instrument=key, bid=Decimal("3510"), ask=Decimal("3490"), last=last)
        bus.append_raw(
            bus.layout.md("paper"), encode(QuoteEvent.create("paper", crossed, ts=desk.clock.ns()))
        )
        await desk.settle(pilot)
        assert is_crossed(desk.app.model.quotes[key].quote)
        assert "spread" not in watchlist.shown_columns
        assert watchlist.get_cell(key, "chg").plain.strip() == CROSSED
        assert watchlist.get_cell(key, "chg").style == watchlist.palette.warn
        assert watchlist.get_cell(key, "bid").style == watchlist.palette.warn
        await desk.session.close()


async def test_a_close_from_a_crossed_quote_prefills_no_price(make_desk) -> None:
    """`x` on a position prefills the side that closes (the bid to sell): from a crossed
    quote it prefilled a sell at the crossed bid, above the ask. Now none, and beside
    Send the crossed quote first, then the close's own note."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        key = "ETHUSDT.PAPER"
        await desk.session.engine.submit(market_buy("st000000000000000911", key, "1"))
        await desk.settle(pilot)
        bus = desk.session.bus
        assert isinstance(bus, MemoryBus)
        crossed = Quote(instrument=key, bid=Decimal("3510"), ask=Decimal("3490"))
        bus.append_raw(
            bus.layout.md("paper"), encode(QuoteEvent.create("paper", crossed, ts=desk.clock.ns()))
        )
        await desk.settle(pilot)
        await pilot.press("4", "x")
        await desk.settle(pilot)
        draft = ticket_of(desk).draft()
        assert (draft.instrument, draft.quantity, draft.reduce_only) == (key, "1", True)
        assert draft.limit_price == ""  # not the crossed bid, 3,510.00
        assert status(desk).startswith(
            "quote crossed (bid 3,510.00 above ask 3,490.00): no price prefilled, type one"
        )
        await desk.session.close()


quotes = st.builds(
    Quote,
    instrument=st.sampled_from(["A.X", "B.X"]),
    bid=st.sampled_from([None, Decimal(0), Decimal(99), Decimal(100), Decimal(101)]),
    ask=st.sampled_from([None, Decimal(0), Decimal(99), Decimal(100), Decimal(101)]),
    last=st.sampled_from([None, Decimal(100)]),
)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(quotes, max_size=5), max_size=6))
def test_every_crossed_quote_is_counted_and_each_instrument_said_once_a_minute(
    batches: list[list[Quote]],
) -> None:
    """Every crossed quote read is counted, those a later quote of its batch superseded
    too (the row shows only the latest); an instrument turning crossed is said in the Log
    at most once a minute (here the clock stands); a row is crossed exactly while its
    latest quote is; a locked quote (bid = ask) or one with an empty side is not."""
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    n = 0
    for batch in batches:
        entries = []
        for quote in batch:
            n += 1
            entries.append(
                BusEntry("silvertine:md:x", f"1767364200000-{n}", QuoteEvent.create("x", quote))
            )
        model.ingest_batch(entries)
    crossed = [q for batch in batches for q in batch if is_crossed(q)]
    assert model.crossed == len(crossed)
    assert model.crossed_by == {
        key: sum(q.instrument == key for q in crossed) for key in {q.instrument for q in crossed}
    }
    shown = {q.instrument: q for batch in batches for q in batch}
    for key, state in model.quotes.items():
        assert state.crossed is is_crossed(shown[key])
    said = [line.text.partition(" ")[0] for line in model.log if "quote crossed" in line.text]
    assert len(said) == len(set(said))  # once a minute at most
    ever_shown_crossed = {
        key
        for batch in batches
        for key, q in {q.instrument: q for q in batch}.items()
        if is_crossed(q)
    }
    assert set(said) == ever_shown_crossed
