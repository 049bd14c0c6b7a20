"""The bus's counters of bad entries count entries, not reads of them."""

from __future__ import annotations

from silvertine_tui.bus.base import BAD_SEEN_MAX, BusStats
from silvertine_tui.events import DecodeError, UnknownEvent


def bad(reason: str = "schema") -> DecodeError:
    return DecodeError(reason=reason, fields={})


def test_one_bad_entry_read_by_several_readers_is_one() -> None:
    stats = BusStats(backend="memory", url="memory://")
    for _ in range(3):  # the engine's reader, the desk's, a recovery
        stats.count_decoded(bad(), "p:exec:paper:main", "1-0")
        stats.count_decoded(
            UnknownEvent(type="teleport", v=1, event_id="e", ts=0, source="x", payload=b""),
            "p:exec:paper:main",
            "2-0",
        )
    # The same id on another stream is another entry.
    stats.count_decoded(bad(), "p:health", "1-0")
    assert (stats.decode_errors, stats.unknown_events) == (2, 1)
    assert "bad_seen" not in stats.as_metrics()
    assert stats.as_metrics()["decode_errors"] == 2


def test_what_is_remembered_is_bounded() -> None:
    stats = BusStats(backend="memory", url="memory://")
    for n in range(BAD_SEEN_MAX + 5):
        stats.count_decoded(bad(), "s", f"{n}-0")
    assert stats.decode_errors == BAD_SEEN_MAX + 5
    assert len(stats.bad_seen) == BAD_SEEN_MAX
    stats.count_decoded(bad(), "s", f"{BAD_SEEN_MAX + 4}-0")  # still remembered
    assert stats.decode_errors == BAD_SEEN_MAX + 5
    stats.count_decoded(bad(), "s", "0-0")  # the oldest, forgotten: counted again
    assert stats.decode_errors == BAD_SEEN_MAX + 6
