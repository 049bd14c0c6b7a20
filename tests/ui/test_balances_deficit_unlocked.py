"""A currency in deficit with nothing locked is not told that cancelling frees what the
orders lock (docs/ui.md, "Balances"; `DEFICIT_FREES`).

The lines under the Balances rows ended `cancelling orders frees what they lock`
whatever was locked: with Locked 0 (the resting buys cancelled, or none) there is
nothing to free, and the words sent the trader cancelling orders that held none of
the currency. They say it only of a currency in deficit with something locked, name
which when only some are, and otherwise that cancelling frees none; what the venue
still takes (sales of a long, buys that cover a short) is said as before.

The desk's figures: leverage 3, 2,000 USDT, long 1.3 ETH at 2,620.00, a BUY 0.1 @
400.00 resting (40.12 locked); the market falls to bids 600.00/590.00/580.00 and a
SELL 1.3 @ 580.00 sells the long: buying power -1,963.645, in deficit. Cancelling the
buy frees its 40.12: -1,923.525, still in deficit, nothing locked."""

from __future__ import annotations

import asyncio
import textwrap
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Balance, Side
from silvertine_tui.ui.widgets.balances import DEFICIT_NOTES, Balances

from .conftest import Desk, limit_buy, market_buy
from .test_balances_deficit import ETH, LONG, ROW, available, book, edge, leveraged, painted
from .test_balances_deficit_property import CURRENCIES, OnePane, check
from .test_quote_drawing import Terminal, capture

SMALL = "st000000000000000911"  # the BUY 0.1 @ 400.00 that rests
SELL_ALL = "st000000000000000912"  # the SELL 1.3 @ 580.00 that makes the deficit


async def test_with_nothing_locked_the_pane_does_not_say_cancelling_frees_it(make_desk) -> None:
    """In deficit with 40.12 locked, the lines under the row say cancelling frees what
    the orders lock. Once the buy is cancelled the currency is still in deficit with
    nothing locked: they said the same (`cancelling orders frees what they lock`); now
    that nothing is locked and cancelling frees none, after what the venue still takes."""
    desk: Desk = make_desk(settings=leveraged())
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36)) as pilot:
        term = Terminal(120, 36)
        await desk.start(pilot)
        engine = desk.session.engine
        await desk.broker.on_market_data(book([("2600.00", "10")], [("2620.00", "10")]))
        await desk.settle(pilot)
        await engine.submit(market_buy(LONG, ETH, "1.3"))
        await engine.submit(limit_buy(SMALL, ETH, "0.1", "400.00"))
        await desk.settle(pilot)
        fallen = [("600.00", "0.5"), ("590.00", "0.5"), ("580.00", "0.5")]
        above = [("620.00", "0.5"), ("640.00", "0.5"), ("660.00", "0.5")]
        await desk.broker.on_market_data(book(fallen, above))
        await desk.settle(pilot)
        sale = limit_buy(SELL_ALL, ETH, "1.3", "580.00").model_copy(update={"side": Side.SELL})
        await engine.submit(sale)
        await desk.next_second(pilot)
        assert available(desk) == Decimal("-1963.645")
        assert painted(term, desk, updates) == [
            "╭─ 5 Balances ─────────────────────────────╮",
            "│ Ccy        Total   Available  Locked     │",
            "│ USDT    -641.175  -1,963.645   40.12     │",
            "│ USDT in deficit: only orders that need   │",
            "│ no buying power are taken (sales of a    │",
            "│ long, buys that cover a short);          │",
            "│ cancelling orders frees what they lock   │",
            "╰──────────────────────────────────────────╯",
        ]
        await engine.cancel(SMALL)
        await desk.next_second(pilot)
        assert available(desk) == Decimal("-1923.525")  # still in deficit
        pane = app.screen.query_one(Balances)
        assert pane.get_cell(ROW, "locked").plain == "0.00"
        assert painted(term, desk, updates) == [
            "╭─ 5 Balances ─────────────────────────────╮",
            "│ Ccy        Total   Available  Locked     │",
            "│ USDT    -641.175  -1,923.525    0.00     │",
            "│ USDT in deficit: only orders that need   │",
            "│ no buying power are taken (sales of a    │",
            "│ long, buys that cover a short); nothing  │",
            "│ is locked: cancelling frees none         │",
            "╰──────────────────────────────────────────╯",
        ]
        assert edge(desk) == ""
        await desk.session.close()


Key = tuple[str, str, str]
FIGURES = st.sampled_from(["-106.6044", "-0.01", "0", "1849.2456"]).map(Decimal)
LOCKS = st.sampled_from(["0", "0.01", "1955.85"]).map(Decimal)
STATES = st.dictionaries(
    st.sampled_from(CURRENCIES), st.tuples(FIGURES, LOCKS), min_size=1, max_size=4
)


def balances_of(state: dict[str, tuple[Decimal, Decimal]]) -> dict[Key, Balance]:
    return {
        ("paper", "main", ccy): Balance(
            broker="paper",
            account="main",
            currency=ccy,
            total=amount + locked,
            available=amount,
            locked=locked,
        )
        for ccy, (amount, locked) in state.items()
    }


def check_frees(pane: Balances, state: dict[str, tuple[Decimal, Decimal]]) -> None:
    """What the lines under the rows say of cancelling is true of what is locked: that
    it frees what the orders lock only with something locked in a currency in deficit
    (naming those when not all are), that it frees none when nothing is; and the first
    of `DEFICIT_NOTES`, whole, whenever it fits the lines free."""
    check(pane, {ccy: amount for ccy, (amount, _) in state.items()})
    in_deficit = [ccy for ccy in sorted(state) if state[ccy][0] < 0]
    locking = [ccy for ccy in in_deficit if state[ccy][1] > 0]
    said = " ".join(pane.deficit_lines())
    if not in_deficit:
        assert said == ""
        return
    if not locking:
        frees = "nothing is locked: cancelling frees none"
    elif locking == in_deficit:
        frees = "cancelling orders frees what they lock"
    else:
        frees = f"cancelling orders frees what they lock in {', '.join(locking)}"
    if "cancelling" in said:
        assert said.endswith(f"; {frees}"), (said, state)
    assert ("frees what they lock" in said) <= bool(locking), (said, state)
    # The whole first note is said whenever it fits (so the words above are tested).
    width = max(1, pane.scrollable_content_region.width - pane.PAD_LEFT - pane.PAD_RIGHT)
    full = DEFICIT_NOTES[0].format(who=", ".join(in_deficit), frees=frees)
    rows = len(state)
    free = max(0, pane.scrollable_content_region.height - 1 - rows)
    shown = len(textwrap.wrap(full, width)) <= free
    some = "none" if not locking else "all" if locking == in_deficit else "some"
    event(f"{'whole' if shown else 'shorter'} note, {some} of those in deficit locking")
    if shown:
        assert said == " ".join(textwrap.wrap(full, width)), (said, full)


async def run(
    size: tuple[int, int],
    first: dict[str, tuple[Decimal, Decimal]],
    then: dict[str, tuple[Decimal, Decimal]],
) -> None:
    app = OnePane()
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(Balances)
        pane.show(balances_of(first))
        await pilot.pause()
        check_frees(pane, first)
        # Some rows change (a cancel, a fill): only theirs are handed over, as the desk does.
        after = {**first, **then}
        pane.update(balances_of(after), [("paper", "main", ccy) for ccy in then])
        await pilot.pause()
        check_frees(pane, after)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(30, 120),
    height=st.integers(3, 16),
    first=STATES,
    then=st.dictionaries(st.sampled_from(CURRENCIES), st.tuples(FIGURES, LOCKS), max_size=3),
)
def test_what_the_pane_says_of_cancelling_is_true_of_what_is_locked(
    width: int,
    height: int,
    first: dict[str, tuple[Decimal, Decimal]],
    then: dict[str, tuple[Decimal, Decimal]],
) -> None:
    asyncio.run(run((width, height), first, then))
