"""How the IB watchdog says a wait ("TWS has not answered for N s"): never longer than
it was, so the bound reads as configured (`brokers/ib/session.py`, `_seconds`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.ib.session import _seconds


@given(st.floats(min_value=0.0, max_value=3600.0))
def test_a_wait_is_said_never_longer_than_it_was(value: float) -> None:
    """The health pane's "has not answered for N s": N is never more than the wait
    (a bound of 60 s reads 60 at 60.4, not 61 at 60.6), and short of it by less than
    its last place (a tenth of a second below 10 s, a second from there)."""
    said = _seconds(value)
    assert float(said) <= value + 1e-6
    assert value - float(said) < (1.0 if value >= 10 else 0.1)
    assert not said.endswith(".0")


def test_a_configured_wait_is_said_as_written() -> None:
    assert [_seconds(v) for v in (0.2, 1.2, 5, 9.99, 10, 59.999999, 60, 60.7)] == [
        "0.2",
        "1.2",
        "5",
        "9.9",
        "10",
        "60",
        "60",
        "60",
    ]
