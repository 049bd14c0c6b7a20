"""`python -m benchmarks ui` finds the sentinel prices on the screen, not in the bytes:
an app that writes only the changed digits of a price shows it without writing it in
one piece (the desk does, `ui/lean_update.py`)."""

from __future__ import annotations

from benchmarks.ui import (
    SCREEN_TABLE_RE,
    SCREEN_TICKET_RE,
    ScreenModel,
    _screen_times,
    _sentinels,
    screen_matches,
)


def test_a_price_completed_by_its_changed_digit_is_seen_when_that_digit_is_written() -> None:
    chunks = [
        (1.0, b"\x1b[4;10H\x1b[38;5;71m10,001.37\x1b[0m"),  # the whole price
        (2.0, b"\x1b[4;15H\x1b[38;5;71m2"),  # 10,001.37 -> 10,002.37: one digit
        (3.0, b"\x1b[5;1Hunrelated"),  # the row above still shows it: not a new match
        (4.0, b"\x1b[4;14H"),  # a move alone writes nothing
        (5.0, b"\x1b[4;15H3\x1b["),  # -> 10,003.37, with a sequence cut mid-way
        (6.0, b"0m\x1b[4;15H4"),  # its end, then -> 10,004.37
    ]
    (table,) = screen_matches(chunks, [SCREEN_TABLE_RE])
    assert _sentinels(table) == [(1.0, 1), (2.0, 2), (5.0, 3), (6.0, 4)]


def test_the_screen_and_the_bytes_agree_when_prices_are_written_whole() -> None:
    """Before the desk wrote changed digits only, the measure looked for the whole
    number in the output: on output that writes numbers whole both find the same."""

    class Term:
        chunks = [
            (1.0, b"\x1b[4;10H10,001.37\x1b[4;30H10,001.39"),
            (2.0, b"\x1b[4;10H10,002.37\r\n\x1b[6;3H Price 10002.39 "),
        ]

    (table, ticket) = screen_matches(Term.chunks, [SCREEN_TABLE_RE, SCREEN_TICKET_RE])
    assert _sentinels(table) == _screen_times(Term) == [(1.0, 1), (2.0, 2)]  # type: ignore[arg-type]
    assert ticket == [(2.0, "10002.39")]


def test_text_stops_at_the_right_edge_and_utf8_may_be_cut_between_chunks() -> None:
    screen = ScreenModel(10, 2)
    bar = "▆".encode()
    screen.feed(b"\x1b[1;8Habcdef" + bar[:1])
    screen.feed(bar[1:] + b"\x1b[2;1H" + bar)
    assert screen.line(0) == "       abc"
    assert screen.line(1) == "▆         "
