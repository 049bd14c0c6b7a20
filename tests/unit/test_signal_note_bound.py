"""What a desk holds of a signal's words is bounded, whatever a strategy writes.

Before, a `Signal`'s note had no bound: 20 signals with a 10 MB note each took a desk
from 178 to 405 MB, and it stayed (the Signals pane keeps its newest 200 signals whole).
Now a note longer than 1,000 characters is kept cut to 1,000, ending with what was cut
(`… (note cut: 100,000 characters)`), where the entry is decoded (and where a strategy
makes it); a note over 1 Mi characters, or a strategy or instrument over 16,384, is no
note nor name: the entry is refused as bad data (a counted decode error, shown in
Health), as a malformed entry is.
"""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.domain import Side
from silvertine_tui.events import DecodeError, Signal, SignalEvent
from silvertine_tui.events.codec import decode, encode
from silvertine_tui.ui.model import SIGNALS_KEPT, FeedModel

KEPT = 1_000
"""The characters of a note a desk keeps (docs: the Signals pane)."""
NOTE_MAX = 1_048_576
NAME_MAX = 16_384


def wire(**payload: object) -> dict[bytes, bytes]:
    """A signal entry as a strategy's own client XADDs it, with `payload` over a good one."""
    good = SignalEvent.create(
        "strategy:x",
        Signal(strategy="x", instrument="ETHUSDT.PAPER", side=Side.BUY, quantity=Decimal(1)),
    )
    fields = dict(encode(good))
    body = json.loads(fields[b"p"])
    body.update(payload)
    fields[b"p"] = json.dumps(body).encode()
    return fields


def numbered(chars: int) -> str:
    """A note of `chars` characters, each place telling where it is."""
    words = "".join(f"{n:07d} " for n in range(chars // 8 + 1))
    return words[:chars]


def test_a_long_note_is_kept_cut_and_says_how_long_it_was() -> None:
    note = numbered(100_000)
    decoded = decode(wire(note=note))
    assert isinstance(decoded, SignalEvent), decoded
    kept = decoded.payload.note
    said = "… (note cut: 100,000 characters)"
    assert len(kept) == KEPT, len(kept)
    assert kept.endswith(said), kept[-80:]
    assert kept == note[: KEPT - len(said)] + said


def test_a_note_cut_once_is_kept_as_it_is() -> None:
    """A strategy's own `Signal` cuts its note; the desk decoding what it published keeps
    that (not cut again, which would say the cut note's length, not the note's)."""
    made = Signal(strategy="x", instrument="ETHUSDT.PAPER", side=Side.BUY, note=numbered(5_000))
    assert made.note.endswith("… (note cut: 5,000 characters)")
    decoded = decode(encode(SignalEvent.create("strategy:x", made)))
    assert isinstance(decoded, SignalEvent), decoded
    assert decoded.payload == made


@settings(max_examples=150, deadline=None)
@given(note=st.text(max_size=2_500) | st.integers(0, 3_000).map(numbered))
def test_a_note_is_kept_whole_up_to_its_bound_and_cut_to_it_beyond(note: str) -> None:
    decoded = decode(wire(note=note))
    assert isinstance(decoded, SignalEvent), decoded
    kept = decoded.payload.note
    if len(note) <= KEPT:
        assert kept == note
    else:
        said = f"… (note cut: {len(note):,} characters)"
        assert kept == note[: KEPT - len(said)] + said
    assert len(kept) <= KEPT
    again = decode(encode(decoded))
    assert isinstance(again, SignalEvent)
    assert again.payload == decoded.payload


async def test_a_note_over_the_hard_bound_is_refused_and_counted_as_bad_data() -> None:
    """The repro's 10 MB note: refused where it is read, counted by the bus (Health's
    `decode err`) and by the desk's model, its Log line naming the entry and why."""
    bus = MemoryBus()
    await bus.start()
    try:
        stream = bus.layout.signal
        entry_id = bus.append_raw(stream, wire(note="n" * 10_000_000))
        [entry] = await bus.read(stream)
        assert entry.id == entry_id
        assert isinstance(entry.event, DecodeError), entry.event
        assert "note" in entry.event.reason, entry.event.reason
        assert bus.stats.decode_errors == 1
        model = FeedModel(prefix=bus.layout.prefix, clock=lambda: 0.0)
        model.ingest(entry)
        assert model.decode_errors == 1
        assert len(model.signals) == 0
        [line] = list(model.log)
        assert entry_id in line.text, line.text
        assert len(line.text) < 2_100, len(line.text)
    finally:
        await bus.close()


def test_a_note_at_the_hard_bound_is_taken_cut() -> None:
    decoded = decode(wire(note="n" * NOTE_MAX))
    assert isinstance(decoded, SignalEvent), decoded
    assert decoded.payload.note.endswith(f"… (note cut: {NOTE_MAX:,} characters)")
    refused = decode(wire(note="n" * (NOTE_MAX + 1)))
    assert isinstance(refused, DecodeError), refused


def test_a_name_beyond_its_bound_is_refused_never_cut() -> None:
    """A strategy or an instrument is what signals are kept by and a ticket is filled
    from: whole up to its bound (cut, two would read as one), refused beyond it."""
    for field in ("strategy", "instrument"):
        whole = decode(wire(**{field: "S" * NAME_MAX}))
        assert isinstance(whole, SignalEvent), whole
        assert getattr(whole.payload, field) == "S" * NAME_MAX
        refused = decode(wire(**{field: "S" * (NAME_MAX + 1)}))
        assert isinstance(refused, DecodeError), (field, refused)
        assert field in refused.reason, refused.reason


def test_a_desk_fed_long_notes_holds_a_bounded_amount() -> None:
    """250 signals of a 1,000,000-character note each (under the hard bound: taken):
    the desk's model keeps its 200 newest, each note cut, and its Log lines say so."""
    model = FeedModel(prefix="silvertine", clock=lambda: 0.0)
    fields = wire(note=numbered(1_000_000))
    for n in range(250):
        decoded = decode(fields)
        assert isinstance(decoded, SignalEvent), decoded
        model.ingest(BusEntry("silvertine:signal", f"1767364202{n:03d}-0", decoded))
    rows = list(model.signals)
    assert len(rows) == SIGNALS_KEPT
    held = sum(len(row.signal.note) + len(row.signal.strategy) for row in rows)
    assert held <= SIGNALS_KEPT * (KEPT + 1), held
    lines = [line.text for line in model.log]
    assert lines, "no Log line for the signals"
    assert all("(note cut: 1,000,000 characters)" in text for text in lines), lines[-1][-120:]
