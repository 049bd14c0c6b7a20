"""`last_run.entry_before`: the id a last-run record holds while its start still acts on
a stricter state set while the desk was down (`RunRecorder.acting`): right before that
entry, and after every entry older than it (tests/integration/test_kill_record_order.py
has the desks)."""

from __future__ import annotations

import pytest

from silvertine_tui.bus import parse_id
from silvertine_tui.engine.last_run import entry_before


@pytest.mark.parametrize(
    ("entry", "before"),
    [
        ("1700000000000-3", "1700000000000-2"),
        ("1700000000000-1", "1700000000000-0"),
        ("1700000000000-0", f"1699999999999-{2**64 - 1}"),
    ],
)
def test_entry_before_is_right_before_the_entry(entry: str, before: str) -> None:
    assert entry_before(entry) == before
    assert parse_id(entry_before(entry)) < parse_id(entry)
    assert parse_id(entry_before(entry)) >= parse_id("1699999999999-99")
