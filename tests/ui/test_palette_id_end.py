"""The command palette reads an order's id end out of what surrounds it on screen,
pasted whole: the Log's `(…mtnx)`, the ticket's `sent tdnfmtnx:`, a toast's
`(order tdnfmtnx)` (tests/ui/test_palette_short_id.py drives the palette itself)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.ui.commands import id_end


@given(
    end=st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=20),
    before=st.sampled_from(["", "(…", "(", "`"]),
    after=st.sampled_from(["", ")", ":", ",", "`"]),
)
def test_an_id_end_is_read_out_of_what_surrounds_it_on_screen(
    end: str, before: str, after: str
) -> None:
    assert id_end(f"{before}{end}{after}") == end
