"""The desk's own view of whether it lost the bus (ui/bus_watch.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.ui.bus_watch import BusWatch


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=30))
def test_lost_is_reached_once_not_now_and_not_closing(frames: list[tuple[bool, bool]]) -> None:
    """Against a plain model: lost only after the bus was reached and while it is not,
    never while the desk closes it; the toast (`update` returning True) comes once per
    loss, on the frame the loss starts."""
    watch = BusWatch()
    seen_up = was_lost = False
    for connected, closing in frames:
        watch.closing = closing
        newly = watch.update(connected)
        seen_up |= connected
        lost = seen_up and not connected and not closing
        assert watch.lost is lost
        assert newly is (lost and not was_lost)
        was_lost = lost


def test_a_bus_never_reached_is_not_lost_and_a_closed_one_is_not_either() -> None:
    watch = BusWatch()
    assert watch.update(False) is False  # starting: not there yet
    assert watch.update(True) is False
    assert watch.update(False) is True  # lost: told once
    assert watch.update(False) is False
    assert watch.update(True) is False  # back
    watch.closing = True
    assert watch.update(False) is False  # the desk quitting closed it
    assert not watch.lost
