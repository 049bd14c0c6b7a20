"""Events built by the decoder's short path are the same objects pydantic would make."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from silvertine_tui.events import DecodeError, EventBase, UnknownEvent, decode, decode_flat, encode
from tests.support import (
    fill_event,
    health_event,
    order_update_event,
    quote_event,
    risk_event,
    signal_event,
    trade_event,
)

EVENTS = [
    fill_event(7),
    health_event("h"),
    order_update_event(3),
    quote_event("BTCUSDT.BINANCE", bid="64000.10"),
    risk_event(),
    signal_event(),
    trade_event(),
]


def flat(event: EventBase) -> list[bytes]:
    return [part for pair in encode(event).items() for part in pair]


def careful(fields: dict[bytes, bytes]) -> Any:
    """The careful path: str keys miss the short path's `fields[b"t"]`."""
    return decode({k.decode(): v for k, v in fields.items()})


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_decoded_event_behaves_like_a_validated_one(event: EventBase) -> None:
    validated = type(event).model_validate(event.model_dump())
    for decoded in (decode(encode(event)), decode_flat(flat(event)), careful(encode(event))):
        assert type(decoded) is type(event)
        assert isinstance(decoded, EventBase)
        assert decoded == event == validated
        try:
            expected = hash(validated)
        except TypeError:  # a payload holding a dict (health metrics) has no hash
            with pytest.raises(TypeError):
                hash(decoded)
        else:
            assert hash(decoded) == expected
        assert decoded.model_fields_set == validated.model_fields_set
        assert decoded.model_dump() == validated.model_dump()
        assert decoded.__pydantic_extra__ is None
        assert decoded.model_copy(update={"source": "other"}).source == "other"
        assert decoded.source == event.source  # the copy left it alone
        with pytest.raises(ValidationError):
            decoded.source = "changed"  # type: ignore[misc]
        # Each event owns its fields set: changing one changes no other.
        decoded.model_fields_set.add("x")
        assert "x" not in decode(encode(event)).model_fields_set  # type: ignore[union-attr]


def fields_as(event: EventBase, fields: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {**encode(event), **fields}


header_bytes = st.one_of(
    st.sampled_from([b"1", b"01", b" 1", b"+1", b"1 ", b"0", b"-1", b"2", b"99", b"", b"x"]),
    st.binary(max_size=6),
    st.integers(-3, 2**64).map(lambda n: str(n).encode()),
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(EVENTS),
    field=st.sampled_from([b"v", b"ts", b"id", b"src", b"t"]),
    value=header_bytes,
)
def test_short_path_takes_only_what_the_careful_path_decodes_the_same(
    event: EventBase, field: bytes, value: bytes
) -> None:
    """Whatever a header holds, the short paths (dict and flat list) answer exactly
    what the careful path, which reads every field with `int()`/`decode()`, answers."""
    fields = fields_as(event, {field: value})
    expected = careful(fields)
    for got in (decode(fields), decode_flat([p for pair in fields.items() for p in pair])):
        assert type(got) is type(expected)
        if isinstance(expected, DecodeError):
            continue  # the reason may be worded by either path
        assert got == expected
        if isinstance(expected, EventBase):
            assert isinstance(got, EventBase)
            assert got.model_fields_set == expected.model_fields_set


@pytest.mark.parametrize(
    ("v", "kind"),
    [(b"1", "event"), (b"01", "event"), (b"2", UnknownEvent), (b"0", DecodeError)],
)
def test_schema_version_spellings(v: bytes, kind: Any) -> None:
    event = order_update_event(5)
    decoded = decode_flat([p for pair in fields_as(event, {b"v": v}).items() for p in pair])
    if kind == "event":
        assert decoded == event
        assert isinstance(decoded, EventBase)
        assert decoded.v == 1
    else:
        assert type(decoded) is kind


def test_payload_validators_are_built_once_not_per_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The payload models defer their build, and an adapter's `validator` is pydantic's
    stand-in until then: one kept from before the build rebuilds the adapter on every
    call (about 1 us an entry in replay). Decoding builds each validator once."""
    import pydantic

    rebuilds: list[object] = []
    original = pydantic.TypeAdapter.rebuild

    def counting(self: pydantic.TypeAdapter[Any], **kwargs: Any) -> bool | None:
        rebuilds.append(self)
        return original(self, **kwargs)

    monkeypatch.setattr(pydantic.TypeAdapter, "rebuild", counting)
    for event in EVENTS:
        entry = flat(event)
        for _ in range(20):
            assert decode_flat(entry) == event
            assert decode(encode(event)) == event
            assert careful(encode(event)) == event
    assert len(rebuilds) <= len(EVENTS)  # at most once per type (none if built already)


@settings(max_examples=200, deadline=None)
@given(
    event=st.sampled_from(EVENTS),
    field=st.sampled_from([b"v", b"ts", b"id", b"src", b"t", b"p"]),
    value=header_bytes,
)
def test_bus_entry_ok_says_whether_the_entry_is_an_event(
    event: EventBase, field: bytes, value: bytes
) -> None:
    """`BusEntry.ok` reads the decoded value's class flag (in C); it answers what the
    plain check, `isinstance(event, EventBase)`, answers, for events, unknown types
    and undecodable entries alike."""
    from silvertine_tui.bus import BusEntry

    for fields in (encode(event), fields_as(event, {field: value})):
        decoded = decode(fields)
        entry = BusEntry("s", "1-0", decoded)
        assert entry.ok is isinstance(decoded, EventBase)
        assert entry.ok is not isinstance(decoded, DecodeError | UnknownEvent)
    assert BusEntry("s", "1-0", DecodeError("x")).ok is False
    assert BusEntry("s", "1-0", UnknownEvent("option.greeks", 1, "i", 1, "s", b"{}")).ok is False


@pytest.mark.parametrize("first", ["short", "careful"])
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_a_type_decoded_for_the_first_time_decodes_as_later(
    monkeypatch: pytest.MonkeyPatch, event: EventBase, first: str
) -> None:
    """Each wire type's validator is built when an entry of it is first decoded, by
    whichever path meets it first: that entry, good or bad, decodes as every later one,
    and what is kept is the built validator, not pydantic's deferred stand-in."""
    from pydantic._internal._mock_val_ser import MockValSer

    from silvertine_tui.events import codec

    good = encode(event)
    bad = fields_as(event, {b"p": b'{"surprise": 1}'})

    def both_paths() -> list[Any]:
        short = [decode_flat(flat_of(good)), decode_flat(flat_of(bad))]
        slow = [careful(good), careful(bad)]
        return short + slow if first == "short" else slow + short

    expected = both_paths()
    monkeypatch.setattr(codec, "_BY_WIRE_TYPE", {})  # as at start-up: nothing built yet
    got = both_paths()
    assert got == expected
    assert [type(x) for x in got] == [type(x) for x in expected]
    assert got.count(event) == 2
    assert list(codec._BY_WIRE_TYPE) == [event.type.encode()]
    validator = codec._BY_WIRE_TYPE[event.type.encode()][2]
    assert not isinstance(validator, MockValSer)
    assert validator.validate_json(good[b"p"]) == event.payload


def flat_of(fields: dict[bytes, bytes]) -> list[bytes]:
    return [part for pair in fields.items() for part in pair]
