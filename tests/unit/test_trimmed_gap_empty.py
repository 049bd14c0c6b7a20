"""`journal_gap` of an emptied journal (no first entry), from XINFO STREAM's answer:
a gap when entries beyond what the snapshot covers existed (its last generated id),
or with no snapshot when any existed (entries-added; on a Redis before 7, which does
not count them, its last generated id)."""

from __future__ import annotations

import pytest

from silvertine_tui.bus.base import StreamInfo
from silvertine_tui.engine.snapshots import journal_gap


def emptied(last: str, added: int, *, counts_added: bool = True) -> StreamInfo:
    return StreamInfo(
        length=0,
        first_id=None,
        last_id=None,
        last_generated_id=last,
        entries_added=added,
        counts_added=counts_added,
    )


@pytest.mark.parametrize(
    ("covers", "info", "said"),
    [
        ("5-0", emptied("7-0", 4), "it had entries up to 7-0, after the entry 5-0"),
        ("5-0", emptied("7-0", 0, counts_added=False), "it had entries up to 7-0"),
        ("5-0", emptied("5-0", 3), ""),  # trimmed up to what the snapshot covers
        ("5-1", emptied("5-0", 3), ""),
        (None, emptied("7-0", 4), "all the journal's 4 entries were trimmed"),
        (None, emptied("0-0", 0), ""),
        (None, emptied("7-0", 0, counts_added=False), "entries (up to 7-0) were all trimmed"),
        (None, emptied("0-0", 0, counts_added=False), ""),
    ],
)
def test_an_emptied_journal_is_a_gap_when_it_held_what_the_snapshot_does_not(
    covers: str | None, info: StreamInfo, said: str
) -> None:
    why = journal_gap(covers, info)
    if said:
        assert said in why
    else:
        assert why == ""
