"""The local book's update-id rules (Binance's documented procedure), without sockets."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.binance.book_sync import (
    BookSync,
    DepthDiff,
    DepthSnapshot,
    DiffResult,
    SnapshotResult,
)
from silvertine_tui.brokers.binance.market import (
    BadPayload,
    parse_book_ticker,
    parse_depth_update,
    parse_trade,
)

D = Decimal


def diff(first: int, last: int, bids: dict[str, str] | None = None) -> DepthDiff:
    levels = tuple((D(p), D(q)) for p, q in (bids or {}).items())
    return DepthDiff(first=first, last=last, bids=levels, asks=())


def snapshot(last_update_id: int, bids: dict[str, str]) -> DepthSnapshot:
    return DepthSnapshot(last_update_id, tuple((D(p), D(q)) for p, q in bids.items()), ())


def test_buffered_events_up_to_the_snapshot_are_dropped_and_the_rest_applied() -> None:
    book = BookSync("BTCUSDT.BINANCE")
    assert book.on_diff(diff(101, 101, {"10": "1"})) is DiffResult.BUFFERED
    assert book.on_diff(diff(102, 104, {"11": "2"})) is DiffResult.BUFFERED
    assert book.on_diff(diff(105, 105, {"10": "0"})) is DiffResult.BUFFERED
    # The snapshot already holds 101..102: the event 102..104 straddles it.
    assert book.load_snapshot(snapshot(102, {"10": "1", "9": "5"})) is SnapshotResult.SYNCED
    assert book.last_update_id == 105
    assert book.bids == {D("11"): D("2"), D("9"): D("5")}
    assert book.on_diff(diff(104, 105, {"8": "1"})) is DiffResult.STALE
    assert book.on_diff(diff(106, 107, {"8": "1"})) is DiffResult.APPLIED
    assert book.book(2).update_id == 107
    assert [lv.price for lv in book.book(2).bids] == [D("11"), D("9")]


def test_a_snapshot_older_than_the_buffer_asks_for_another() -> None:
    book = BookSync("BTCUSDT.BINANCE")
    book.on_diff(diff(110, 111))
    assert book.load_snapshot(snapshot(105, {"1": "1"})) is SnapshotResult.TOO_OLD
    assert not book.synced
    assert book.load_snapshot(snapshot(110, {"1": "1"})) is SnapshotResult.SYNCED
    assert book.last_update_id == 111


def test_a_hole_inside_the_buffer_needs_a_newer_snapshot() -> None:
    book = BookSync("BTCUSDT.BINANCE")
    book.on_diff(diff(101, 101))
    book.on_diff(diff(103, 103))  # 102 never came
    assert book.load_snapshot(snapshot(100, {})) is SnapshotResult.TOO_OLD
    assert [d.first for d in book.buffer] == [103]
    assert book.load_snapshot(snapshot(102, {"5": "1"})) is SnapshotResult.SYNCED
    assert book.last_update_id == 103


def test_a_gap_drops_the_book_and_names_the_missed_ids() -> None:
    book = BookSync("BTCUSDT.BINANCE")
    book.load_snapshot(snapshot(100, {"10": "1"}))
    assert book.on_diff(diff(104, 106)) is DiffResult.GAP
    assert book.missed == (101, 103)
    assert not book.synced
    assert book.bids == {}
    assert [d.first for d in book.buffer] == [104]


def test_update_ids_that_run_backwards_are_a_bad_payload() -> None:
    with pytest.raises(BadPayload, match="backwards"):
        parse_depth_update({"U": 5, "u": 4, "b": [], "a": []})


# A venue book (price -> qty) changed step by step; each step is one diff event. The
# client sees every event except the dropped ones, takes snapshots whenever it is out of
# sync, and must end with exactly the venue's book.
steps = st.lists(
    st.tuples(
        st.dictionaries(st.integers(1, 8), st.integers(0, 3), min_size=1, max_size=4),
        st.booleans(),  # dropped on the way
        st.booleans(),  # the client takes a snapshot after this step if it needs one
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_the_local_book_always_equals_the_venues_book_at_its_update_id(
    steps: list[tuple[dict[int, int], bool, bool]],
) -> None:
    venue: dict[Decimal, Decimal] = {D(5): D(1)}
    update_id = 100
    history = {update_id: dict(venue)}
    book = BookSync("X.BINANCE")

    def take_snapshot() -> None:
        levels = tuple(sorted(venue.items()))
        assert book.load_snapshot(DepthSnapshot(update_id, levels, ())) is SnapshotResult.SYNCED

    for changes, dropped, snapshot_now in steps:
        update_id += 1
        levels = tuple((D(p), D(q)) for p, q in changes.items())
        for price, qty in levels:
            if qty:
                venue[price] = qty
            else:
                venue.pop(price, None)
        history[update_id] = dict(venue)
        if not dropped:
            book.on_diff(DepthDiff(update_id, update_id, levels, ()))
        if book.synced:
            assert book.bids == history[book.last_update_id]  # type: ignore[index]
        elif snapshot_now:
            take_snapshot()
    if not book.synced:
        take_snapshot()
    # The last events may have been dropped with no later one to show the gap: the
    # book is then behind, never wrong, and its update id says how far.
    assert book.last_update_id is not None
    assert book.bids == history[book.last_update_id]


ODD_NUMBERS = st.sampled_from(
    ["1", "0", "-1", "1e999999", "-0", "NaN", "sNaN", "Infinity", "abc", "", " 1", "0.1"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=10,
)
Parser = Callable[[dict[str, Any]], object]
VALID: dict[str, tuple[Parser, dict[str, Any]]] = {
    "bookTicker": (
        lambda d: parse_book_ticker("X.BINANCE", d),
        {"u": 1, "s": "X", "b": "1.5", "B": "2", "a": "1.6", "A": "3"},
    ),
    "trade": (
        lambda d: parse_trade("X.BINANCE", d),
        {"e": "trade", "E": 1, "s": "X", "t": 7, "p": "1.5", "q": "0.1", "T": 1, "m": True},
    ),
    "depthUpdate": (
        parse_depth_update,
        {"e": "depthUpdate", "E": 1, "s": "X", "U": 5, "u": 6, "b": [["1", "2"]], "a": []},
    ),
}


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    changes=st.dictionaries(
        st.sampled_from(["b", "B", "a", "A", "p", "q", "t", "T", "m", "U", "u", "E"]),
        ODD_NUMBERS | json_values | st.just(KeyError),  # KeyError: the field is missing
        min_size=1,
        max_size=2,
    ),
)
def test_any_corrupted_payload_is_market_data_or_a_bad_payload(
    kind: str, changes: dict[str, Any]
) -> None:
    parse, valid = VALID[kind]
    data = dict(valid)
    for name, value in changes.items():
        if value is KeyError:
            data.pop(name, None)
        else:
            data[name] = value
    with contextlib.suppress(BadPayload):
        parse(data)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_valid_payloads_parse(kind: str) -> None:
    parse, valid = VALID[kind]
    assert parse(valid) is not None
