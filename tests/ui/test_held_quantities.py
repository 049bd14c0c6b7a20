"""A quantity is never shown larger than it is held. A spot buy whose fee is taken in
the base asset leaves an amount off the lot grid (1.000999 BTC); the Positions and
Balances panes rounded it to `1.001`, more than can be sold, and `x` prefilled
1.000999, which the desk's own lot-size check refused. The closing ticket now offers
the largest quantity on the lot grid (toward zero) and says what dust stays."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Instrument
from silvertine_tui.domain.money import CUT, is_multiple, money_text
from silvertine_tui.events.summary import qty_text
from silvertine_tui.ui.format import parse_decimal
from silvertine_tui.ui.orders import closing
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, make_settings
from .test_trading_keys import open_market_buy_ticket, ticket_of, type_into

quantities = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=12
)
lots = st.sampled_from([Decimal(x) for x in ("1", "0.1", "0.01", "0.0001", "0.00001", "5", "0.25")])


def shown_value(text: str) -> tuple[Decimal, bool]:
    """The number a cell shows, and whether it is marked as cut."""
    cut = text.endswith(CUT)
    return parse_decimal(text.removesuffix(CUT)), cut


@given(quantities)
def test_a_quantity_is_never_shown_larger_than_held(value: Decimal) -> None:
    for text in (qty_text(value), money_text(value)):
        shown, cut = shown_value(text)
        assert abs(shown) <= abs(value)
        # Exactly what is held, or marked as cut toward zero.
        assert shown == value or (cut and abs(value - shown) < Decimal("1e-8"))


def test_a_fee_in_btc_shows_as_held() -> None:
    assert qty_text(Decimal("1.000999")) == "1.000999"
    assert money_text(Decimal("1.000999")) == "1.000999"
    assert money_text(Decimal("949455.84")) == "949,455.84"
    assert money_text(Decimal("10")) == "10.00"
    assert qty_text(Decimal("0.123456789")) == f"0.12345678{CUT}"


@given(quantities, lots)
def test_the_close_prefill_is_the_largest_sellable_on_the_lot(
    position: Decimal, lot: Decimal
) -> None:
    inst = Instrument(
        symbol="BTCUSDT", venue="X", base_currency="BTC", quote_currency="USDT",
        tick_size=Decimal("0.01"), lot_size=lot,
    )  # fmt: skip
    close = closing(position, inst)
    assert is_multiple(close.quantity, lot) or close.quantity == 0
    assert 0 <= close.quantity <= abs(position)
    assert close.quantity + lot > abs(position)  # the largest such
    assert close.quantity + close.dust == abs(position)


async def test_a_btc_fee_leaves_what_is_shown_and_closed(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(paper={"fees": {"currency": "base"}}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await open_market_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        await type_into(pilot, "0.001")
        await pilot.press("f9")
        await desk.settle(pilot)
        await desk.next_second(pilot)
        held = desk.session.projection.position("paper", "main", "BTCUSDT.PAPER")
        assert held == Decimal("0.000999")  # 0.001 less a 10 bps fee in BTC
        screen = desk.app.screen
        positions = screen.query_one(Positions)
        assert positions.get_cell("paper/main/BTCUSDT.PAPER", "qty").plain == "0.000999"
        # The paper account lists cash only: 100,000 less 64.99... and no fee in USDT,
        # to the last decimal (it read 99,935.00, more than is there).
        cash = desk.session.projection.balances[("paper", "main", "USDT")].total
        balances = screen.query_one(Balances)
        assert balances.get_cell("paper/main/USDT", "total").plain == f"{cash:,f}"
        assert parse_decimal(f"{cash:,f}") == cash

        # x: the largest quantity on the 0.00001 lot, and the dust said on the ticket.
        await pilot.press("escape", "4", "home", "x")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        assert ticket.draft().quantity == "0.00099"
        checked = ticket.run_check()
        assert not [p for p in checked.problems if p.field == "quantity"]
        status = ticket.query_one("#t-status", TextBlock).text.plain
        assert status == "dust 0.000009 BTC stays (lot 0.00001)"
        await desk.session.close()
