"""Whatever the balances and the pane's size, a currency in deficit is said: its
Available in the error colour, and its name `in deficit` under the rows (in the lines
free there, never more) or, with none free, on the pane's bottom line; no currency not
in deficit is named, and nothing is said when none is. Also after an update of some
rows only (a deficit that begins or ends with a fill)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from silvertine_tui.domain import Balance
from silvertine_tui.ui.widgets.balances import Balances

CURRENCIES = ["BTC", "CHF", "ETH", "EUR", "GBP", "JPY", "USD", "USDT"]
AMOUNTS = st.sampled_from(["-106.6044", "-0.01", "0", "0.01", "1849.2456"]).map(Decimal)
STATES = st.dictionaries(st.sampled_from(CURRENCIES), AMOUNTS, min_size=1, max_size=6)

Key = tuple[str, str, str]


class OnePane(App[None]):
    def compose(self) -> ComposeResult:
        yield Balances(id="balances")


def balances_of(available: dict[str, Decimal]) -> dict[Key, Balance]:
    return {
        ("paper", "main", ccy): Balance(
            broker="paper",
            account="main",
            currency=ccy,
            total=amount + 5,
            available=amount,
            locked=Decimal(5),
        )
        for ccy, amount in available.items()
    }


def check(pane: Balances, available: dict[str, Decimal]) -> None:
    in_deficit = [ccy for ccy in sorted(available) if available[ccy] < 0]
    for ccy, amount in available.items():
        style = pane.get_cell(f"paper/main/{ccy}", "available").style
        assert (style == pane.palette.error) is (amount < 0), (ccy, amount, style)
    height = pane.scrollable_content_region.height
    width = pane.scrollable_content_region.width
    lines = [pane.render_line(y) for y in range(height)]
    assert all(line.cell_length == width for line in lines)
    texts = [line.text.strip() for line in lines]
    rows = len(available)
    under = [t for t in texts[1 + rows :] if t] if rows + 1 < height else []
    note = pane.deficit_lines()
    edge = pane.bottom_text()
    if not in_deficit:
        assert not note
        assert "deficit" not in edge
        assert not [t for t in texts if "deficit" in t], texts
        return
    lead = f"{', '.join(in_deficit)} in deficit"
    free = max(0, height - 1 - rows)
    assert len(note) <= free
    assert under == note, (texts, note)
    if note:
        said = "".join(note).replace(" ", "")
        assert said.startswith(lead.replace(" ", "")), (note, lead)
        assert "deficit" not in edge
    else:
        assert edge.startswith(lead), edge


async def run(size: tuple[int, int], first: dict[str, Decimal], then: dict[str, Decimal]) -> None:
    app = OnePane()
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(Balances)
        pane.show(balances_of(first))
        await pilot.pause()
        check(pane, first)
        # Some rows change (a fill): only theirs are handed over, as the desk does.
        after = {**first, **then}
        changed = [("paper", "main", ccy) for ccy in then]
        pane.update(balances_of(after), changed)
        await pilot.pause()
        check(pane, after)


@settings(max_examples=30, deadline=None)
@given(
    width=st.integers(20, 90),
    height=st.integers(2, 12),
    first=STATES,
    then=st.dictionaries(st.sampled_from(CURRENCIES), AMOUNTS, max_size=3),
)
def test_a_deficit_is_said_whatever_the_rows_and_the_size(
    width: int, height: int, first: dict[str, Decimal], then: dict[str, Decimal]
) -> None:
    asyncio.run(run((width, height), first, then))
