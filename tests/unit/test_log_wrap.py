"""`wrap`: a log line wider than its pane goes on over rows broken between words."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.ui.format import wrap

words = st.lists(
    st.text(alphabet="ABCxyz0123456789.,@…-", min_size=1, max_size=14), min_size=1, max_size=14
)


@settings(max_examples=400, deadline=None)
@given(words, st.integers(2, 80), st.integers(0, 12))
def test_rows_fit_and_read_as_the_line(parts: list[str], width: int, indent: int) -> None:
    text = " ".join(parts)
    rows = wrap(text, width, indent)
    assert all(len(row) <= width for row in rows) or rows == [text]
    pad = indent if indent <= width // 2 else 0
    assert all(row.startswith(" " * pad) for row in rows[1:])
    if all(len(word) <= width - pad for word in parts):
        # No word is split: the rows' words are the line's words, in order.
        assert " ".join(row.strip() for row in rows).split(" ") == parts
        # And each row took every word that fit.
        for row, after in itertools.pairwise(rows):
            assert len(row) + 1 + len(after.strip().split(" ")[0]) > width
    else:
        assert "".join(row.strip().replace(" ", "") for row in rows) == text.replace(" ", "")


def test_a_number_is_never_split() -> None:
    line = "06:21:26 SEND BUY 10 ETHUSDT.BINANCE LIMIT @ 3,100.00 GTC (…lp6o)"
    assert wrap(line, 34, 9) == [
        "06:21:26 SEND BUY 10",
        "         ETHUSDT.BINANCE LIMIT @",
        "         3,100.00 GTC (…lp6o)",
    ]
    assert wrap("short", 34, 9) == ["short"]


def test_a_wrapped_line_keeps_its_kind_column_and_goes_on_under_its_text() -> None:
    """The kind column's padding (`update  CANCELED`) is kept on a wrapped line (split
    on spaces, the first row read `update CANCELED` and broke the column)."""
    from silvertine_tui.ui.format import clock_text
    from silvertine_tui.ui.model import LineKind, LogLine
    from silvertine_tui.ui.widgets.event_log import EventLog

    text = "CANCELED BUY 0.5 ETHUSDT.PAPER @ 3,400.00 (…91y3) - kill switch (UI) from the desk"
    line = LogLine(7, 1_700_000_000_000, "exec", "order.update", text, LineKind.ORDER)
    rows = EventLog()._wrapped(line, 70)
    prefix = f"{clock_text(1_700_000_000)} update  "
    assert len(rows) == 2
    assert rows[0].startswith(prefix + "CANCELED BUY")
    assert rows[1].startswith(" " * len(prefix))
    assert rows[1][len(prefix)] != " "
    assert all(len(row) <= 70 for row in rows)
    assert f"{rows[0].removeprefix(prefix)} {rows[1].strip()}" == text
