"""Which table columns fit a pane: the least important drop first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.ui.widgets.table import fit_columns

columns = st.lists(
    st.tuples(st.integers(min_value=3, max_value=30), st.integers(min_value=0, max_value=8)),
    min_size=1,
    max_size=12,
)


@given(columns, st.integers(min_value=0, max_value=200))
def test_the_least_important_columns_drop_first(
    cols: list[tuple[int, int]], available: int
) -> None:
    widths = [w for w, _ in cols]
    priorities = [p for _, p in cols]
    shown = fit_columns(widths, priorities, available)
    assert list(shown) == sorted(shown)  # table order kept
    required = [i for i, p in enumerate(priorities) if p == 0]
    assert set(required) <= set(shown)  # priority 0 is never dropped
    optional = [i for i in shown if priorities[i]]
    if optional:  # what is shown beyond the required fits
        assert sum(widths[i] for i in shown) <= available
    dropped = [i for i in range(len(cols)) if i not in shown]
    if dropped and optional:
        assert max(priorities[i] for i in shown) <= min(priorities[i] for i in dropped)


def test_a_wide_pane_shows_every_column_a_narrow_one_the_important_ones() -> None:
    widths = [10, 6, 8, 12]
    priorities = [0, 2, 1, 3]
    assert fit_columns(widths, priorities, 100) == (0, 1, 2, 3)
    assert fit_columns(widths, priorities, 24) == (0, 1, 2)
    assert fit_columns(widths, priorities, 23) == (0, 2)
    assert fit_columns(widths, priorities, 5) == (0,)
