"""The app remembers toasts by what they say (an alert and the ERROR line that says the
same make one toast): every desk on the bus may say ERROR lines all day, and the sets
grew without end (a review). The newest `SAID_KEPT` are kept, a key said again moving to
the newest."""

from __future__ import annotations

from silvertine_tui.ui.app import SAID_KEPT, _keep


def test_the_newest_are_kept_and_the_oldest_go() -> None:
    said: dict[str, str] = {}
    for n in range(SAID_KEPT + 50):
        _keep(said, f"line {n}", f"toast {n}")
    assert len(said) == SAID_KEPT
    assert "line 49" not in said
    assert said["line 50"] == "toast 50"
    _keep(said, "line 50", "again")  # said again: the newest now
    _keep(said, "new", "x")
    assert "line 50" in said
    assert "line 51" not in said
