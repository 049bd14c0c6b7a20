"""`SeenIds`: the bounded memory the bus (bad entries told), the engine (events and
fills applied, unreadable entries told) and the UI (this desk's sends) each keep."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain.seen import SeenIds


@given(
    keys=st.lists(st.integers(min_value=0, max_value=40), max_size=80),
    capacity=st.integers(min_value=1, max_value=20),
)
def test_the_newest_distinct_keys_are_kept_and_no_more(keys: list[int], capacity: int) -> None:
    """A key is new (`add` is True) unless it is among the last `capacity` new keys;
    a key seen again does not refresh its place."""
    seen: SeenIds[int] = SeenIds(capacity)
    window: list[int] = []
    for key in keys:
        new = key not in window
        assert seen.add(key) is new
        if new:
            window = [*window, key][-capacity:]
        assert len(seen) == len(window)
        assert all(k in seen for k in window)
    assert not any(k in seen for k in set(keys) - set(window))
