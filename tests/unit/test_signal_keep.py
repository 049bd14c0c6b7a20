"""The signals the desk keeps (`ui.model.SignalKeep`) and the bounds of a signal's
numbers (`events.payloads.Signal`).

Before, the Signals pane kept the newest 200 in a deque: 10,000 signals of one strategy
left none of any other's and nothing said that 9,800 went; and a signal with quantity
`1E+1000000` was taken, its ticket's Qty a wall of zeros."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from silvertine_tui.domain import Side
from silvertine_tui.events import DecodeError, Signal, SignalEvent
from silvertine_tui.events.codec import decode, encode
from silvertine_tui.events.payloads import SIGNAL_DIGITS, SIGNAL_PLACES
from silvertine_tui.ui.model import DROPPED_NAMED, SignalKeep, SignalRow
from silvertine_tui.ui.widgets.signals import not_kept


def row(n: int, strategy: str) -> SignalRow:
    signal = Signal(strategy=strategy, instrument="ETHUSDT.PAPER", side=Side.BUY)
    return SignalRow(f"st:signal {n}-0", n, signal, n)


@settings(max_examples=200, deadline=None)
@given(
    keep=st.integers(min_value=1, max_value=12),
    sent=st.lists(st.sampled_from("abcde"), max_size=80),
)
def test_a_strategy_keeps_its_share_whatever_the_others_send(keep: int, sent: list[str]) -> None:
    kept = SignalKeep(keep)
    for n, strategy in enumerate(sent):
        kept.append(row(n, strategy))
    rows = list(kept)
    assert len(rows) == len(kept) == min(keep, len(sent))
    assert kept.dropped == len(sent) - len(rows)
    assert sum(kept.dropped_by.values()) == kept.dropped
    # Oldest first, as they came.
    assert [r.ts_ms for r in rows] == sorted(r.ts_ms for r in rows)
    # Each strategy keeps its newest, and at least its share of `keep`.
    by = Counter(r.signal.strategy for r in rows)
    sent_by = Counter(sent)
    share = keep // len(sent_by) if sent_by else 0
    for strategy, count in sent_by.items():
        assert by[strategy] >= min(count, share), (strategy, by, sent_by)
        newest = [n for n, s in enumerate(sent) if s == strategy][-by[strategy] :]
        assert [r.ts_ms for r in rows if r.signal.strategy == strategy] == (
            newest if by[strategy] else []
        )
        assert kept.dropped_by.get(strategy, 0) == count - by[strategy]


def test_a_flood_drops_its_own_and_is_said() -> None:
    kept = SignalKeep(200)
    kept.append(row(0, "alpha"))
    for n in range(1, 10_001):
        kept.append(row(n, "flood"))
    rows = list(kept)
    assert rows[0].signal.strategy == "alpha"
    assert len(rows) == 200
    assert not_kept(kept) == "9,801 older not kept (flood 9,801)"


def test_the_names_of_strategies_that_dropped_are_bounded() -> None:
    kept = SignalKeep(1)
    for n in range(DROPPED_NAMED + 50):
        kept.append(row(n, f"{n:04d}" + "S" * 1000))
    assert kept.dropped == DROPPED_NAMED + 49
    assert len(kept.dropped_by) == DROPPED_NAMED
    assert max(len(name) for name in kept.dropped_by) <= 40
    said = not_kept(kept)
    assert said.startswith(f"{DROPPED_NAMED + 49} older not kept (")
    assert said.endswith(", …)")
    assert len(said) < 80


def wire(**payload: object) -> dict[bytes, bytes]:
    good = SignalEvent.create(
        "strategy:x",
        Signal(strategy="x", instrument="ETHUSDT.PAPER", side=Side.BUY, quantity=Decimal(1)),
    )
    fields = dict(encode(good))
    body = json.loads(fields[b"p"])
    body.update(payload)
    fields[b"p"] = json.dumps(body).encode()
    return fields


@pytest.mark.parametrize(
    "payload",
    [
        {"quantity": "1E+1000000"},
        {"quantity": "1E-1000000"},
        {"quantity": "1." + "0" * 1000},
        {"quantity": "1E+18"},
        {"price": "-1E+18"},
        {"price": "1E+1000000"},
        {"price": "0." + "0" * 18 + "1"},
    ],
)
def test_a_signal_number_out_of_bounds_is_an_undecodable_entry(payload: dict[str, str]) -> None:
    decoded = decode(wire(**payload))
    assert isinstance(decoded, DecodeError)
    assert "signal" in decoded.reason


@settings(max_examples=200, deadline=None)
@given(
    digits=st.integers(min_value=1, max_value=10**SIGNAL_PLACES - 1),
    places=st.integers(min_value=0, max_value=SIGNAL_PLACES),
    negative=st.booleans(),
)
def test_a_signal_number_within_bounds_is_read_as_written(
    digits: int, places: int, negative: bool
) -> None:
    quantity = Decimal(digits).scaleb(-places)
    price = -quantity if negative else quantity
    decoded = decode(wire(quantity=str(quantity), price=str(price)))
    assert isinstance(decoded, SignalEvent)
    assert decoded.payload.quantity == quantity
    assert str(decoded.payload.quantity) == str(quantity)
    assert decoded.payload.price == price


def test_a_signal_built_in_python_is_bounded_too() -> None:
    with pytest.raises(ValidationError):
        Signal(strategy="x", instrument="X", side=Side.BUY, quantity=Decimal("1E+1000000"))
    with pytest.raises(ValidationError, match=f"at most {SIGNAL_DIGITS} digits"):
        Signal(strategy="x", instrument="X", side=Side.BUY, price=Decimal("1." + "0" * 40))
