"""A ticket's choice fields (Side, Type, TIF, Account) keep the keyboard as its text
fields do: a letter picks the option it starts, any other printable key rings the bell,
and no desk key (`b`, `s`, a pane's digit) escapes to open another ticket or pane."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.widgets.choice import Choice

from .test_dialog_keys import bar_line
from .test_trading_keys import open_buy_ticket, type_into

# Every lower-case letter and digit, the capitals of the desk's own letter keys, and
# the punctuation a trader types (the help key `?` among it). `pilot.press` names a
# printable key by its character.
PRINTABLE = string.ascii_lowercase + string.digits + "BSX?./-"


def expected_pick(options: list[str], index: int, character: str) -> int | None:
    """The index a letter moves to: the next option round the list that starts with it."""
    count = len(options)
    for step in range(1, count + 1):
        at = (index + step) % count
        if options[at][:1].casefold() == character.casefold():
            return at
    return None


@given(
    options=st.lists(
        st.text(alphabet="ABCDSTabcds_/", min_size=1, max_size=6), min_size=1, max_size=6
    ),
    start=st.integers(min_value=0, max_value=5),
    character=st.sampled_from("abcdstxABCDST1/"),
)
def test_a_letter_picks_the_next_option_it_starts(
    options: list[str], start: int, character: str
) -> None:
    choice = Choice(options, options[start % len(options)])
    before = choice.index
    picked = choice.pick(character)
    want = expected_pick(options, before, character)
    assert picked is (want is not None)
    assert choice.index == (before if want is None else want)
    if picked:
        assert choice.value[:1].casefold() == character.casefold()


async def test_printable_keys_on_a_choice_stay_in_the_ticket(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await type_into(pilot, "0.5")
        bells: list[None] = []
        desk.app.bell = lambda: bells.append(None)
        engine = desk.session.engine
        choices = [c for c in ticket.query(Choice) if c.parent is not None and c.parent.display]
        names = [c.id for c in choices]
        assert {"t-side", "t-order_type", "t-tif", "t-account"} <= set(names)
        for choice in choices:
            choice.focus()
            await pilot.pause()
            # The bar lists no letter key that would not answer here; quit by ctrl+c.
            bar = bar_line(desk)
            for shown in (" b Buy", " s Sell", " q Quit"):
                assert shown not in bar, bar
            for shown in ("^c Quit", "f9 Send"):
                assert shown in bar, bar
            for character in PRINTABLE:
                options, index = list(choice.options), choice.index
                before = ticket.draft()
                rang = len(bells)
                await pilot.press(character)
                where = f"{character!r} on {choice.id}"
                assert isinstance(desk.app.screen, MainScreen), where
                assert desk.app.focused is choice, where
                want = expected_pick(options, index, character) if character.isalpha() else None
                if want is None:
                    assert choice.index == index, where
                    assert len(bells) == rang + 1, where
                else:
                    assert choice.value == options[want], where
                    assert len(bells) == rang, where
                after = ticket.draft()
                # What the key did not choose is as it was (a type may set its TIF).
                assert (after.instrument, after.quantity) == (before.instrument, "0.5"), where
                if choice.id != "t-side":
                    assert after.side is before.side, where
                assert not engine.oms.orders, where
        await desk.session.close()
