"""The Health pane counts the crossed quotes (the bid above the ask) each broker's feed
sent (a desk review): the Quotes row said `crossed` and the desk counted them
(`FeedModel.crossed`, per instrument `crossed_by`), but the count was shown nowhere,
and nothing said which feed the bad data came from. Now each broker's block says
`crossed quotes N` under its latency and the age of its last market data, in the
warning colour, once its feed has sent one; a feed that sent none says nothing. The
real Binance adapter against the wire-level fake (python-binance), beside the paper
broker."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState, Quote
from silvertine_tui.events import QuoteEvent, encode
from silvertine_tui.ui.model import FeedModel, is_crossed
from silvertine_tui.ui.widgets.health import HealthPane
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings

from .conftest import Desk, until

ETH = "ETHUSDT.BINANCE"


def block(desk: Desk, name: str) -> list[str]:
    """The Health pane's lines of broker `name` (`binance/spot`): its heading and the
    indented lines under it."""
    text = desk.app.screen.query_one(HealthPane).text.plain
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name} "))
    found = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        found.append(line)
    return found


def crossed_line(lines: list[str]) -> str | None:
    return next((line for line in lines if line.strip().startswith("crossed quotes")), None)


async def test_each_feeds_crossed_quotes_are_counted_in_its_health_block(make_desk) -> None:
    with quick_library_timings():
        async with FakeBinance(symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000"}) as fake:
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["ETHUSDT"],
            )  # fmt: skip
            desk: Desk = make_desk(
                settings=Settings(brokers=[paper, binance_config(fake, ["ETHUSDT"])])
            )
            async with desk.app.run_test(size=(80, 24)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_quote("ETHUSDT", "599", "601")
                await until(pilot, "the quote", lambda: ETH in model.quotes)
                await pilot.press("6")
                await desk.settle(pilot)
                assert crossed_line(block(desk, "binance/spot")) is None  # none yet
                assert crossed_line(block(desk, "paper/main")) is None

                # Binance's bookTicker crossed, three times (b 610 / a 590 ...).
                for bid, ask in (("610", "590"), ("611", "590"), ("612", "591")):
                    await fake.set_quote("ETHUSDT", bid, ask)

                    def shown(bid: str = bid) -> bool:
                        return model.quotes[ETH].quote.bid == Decimal(bid)

                    await until(pilot, f"bid {bid}", shown)
                await desk.settle(pilot)
                pane = desk.app.screen.query_one(HealthPane)
                lines = block(desk, "binance/spot")
                said = crossed_line(lines)
                assert said is not None, lines
                assert said == "  crossed quotes 3 (bid above ask; the Log names them)", said
                # Under the line that says how old its market data is.
                assert lines.index(said) == 1 + next(
                    i for i, line in enumerate(lines) if line.strip().startswith("lat ")
                )
                spans = [
                    s
                    for s in pane.text.spans
                    if pane.text.plain[s.start : s.end].strip() == said.strip()
                ]
                assert spans
                assert all(s.style == pane.palette.warn for s in spans)
                assert crossed_line(block(desk, "paper/main")) is None  # not the paper feed's

                # A crossed quote on the paper broker's feed: its own block, its own count.
                bus = desk.session.bus
                assert isinstance(bus, MemoryBus)
                crossed = Quote(
                    instrument="ETHUSDT.PAPER", bid=Decimal("3510"), ask=Decimal("3490")
                )
                bus.append_raw(
                    bus.layout.md("paper"),
                    encode(QuoteEvent.create("paper", crossed, ts=desk.clock.ns())),
                )
                await desk.settle(pilot)
                assert crossed_line(block(desk, "paper/main")) == (
                    "  crossed quotes 1 (bid above ask; the Log names them)"
                )
                assert crossed_line(block(desk, "binance/spot")) == (
                    "  crossed quotes 3 (bid above ask; the Log names them)"
                )
                assert model.crossed == 4
                await desk.session.close()


quotes = st.builds(
    Quote,
    instrument=st.sampled_from(["A.X", "B.X"]),
    bid=st.sampled_from([None, Decimal(0), Decimal(99), Decimal(100), Decimal(101)]),
    ask=st.sampled_from([None, Decimal(0), Decimal(99), Decimal(100), Decimal(101)]),
)
sourced = st.tuples(st.sampled_from(["paper", "binance", "ib"]), quotes)


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(sourced, max_size=5), max_size=6), one_by_one=st.booleans())
def test_every_crossed_quote_is_counted_under_the_feed_that_sent_it(
    batches: list[list[tuple[str, Quote]]], one_by_one: bool
) -> None:
    """Read in batches (`ingest_batch`, a later quote superseding an earlier one of its
    batch) or one entry at a time (`ingest`), every crossed quote counts once under its
    source, and the feeds' counts add up to the desk's."""
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    n = 0
    for batch in batches:
        entries = []
        for source, quote in batch:
            n += 1
            event = QuoteEvent.create(source, quote)
            entries.append(BusEntry(f"silvertine:md:{source}", f"1767364200000-{n}", event))
        if one_by_one:
            for entry in entries:
                model.ingest(entry)
        else:
            model.ingest_batch(entries)
    sent = [(source, q) for batch in batches for source, q in batch if is_crossed(q)]
    expected = {s: sum(source == s for source, _ in sent) for s in {source for source, _ in sent}}
    assert model.crossed_from == expected
    assert sum(model.crossed_from.values()) == model.crossed == len(sent)
