"""Every event kind survives the wire; bad entries decode to counted values."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from enum import Enum
from typing import Any, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from silvertine_tui.domain import Instrument, OrderStatus, OrderUpdate, Quote
from silvertine_tui.domain.instrument import PriceBand
from silvertine_tui.events import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    DecodeError,
    EventBase,
    EventIdFactory,
    OrderUpdateEvent,
    QuoteEvent,
    UnknownEvent,
    decode,
    decode_flat,
    describe,
    encode,
)

money = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), places=8)
text = st.text(alphabet=st.characters(codec="utf-8"), min_size=3, max_size=12)
metric = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    text,
)


SAMPLE_INSTRUMENTS = [
    Instrument(
        symbol="BTCUSDT",
        venue="BINANCE",
        base_currency="BTC",
        quote_currency="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
        price_band=PriceBand(
            bid_up=Decimal("5"),
            bid_down=Decimal("0.2"),
            ask_up=Decimal("5"),
            ask_down=Decimal("0.2"),
        ),
    ),
    Instrument(
        symbol="AAPL",
        venue="SMART",
        quote_currency="USD",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("1"),
    ),
]


def strategy_for(annotation: Any, name: str) -> st.SearchStrategy[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return strategy_for(get_args(annotation)[0], name)
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy_for(a, name) for a in get_args(annotation)))
    if annotation is type(None):
        return st.none()
    if annotation is Decimal:
        return money
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(0, 2**62)
    if annotation is float:
        return st.floats(min_value=-1, max_value=1)  # only Signal.strength is a float
    if annotation is str:
        return text
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if annotation is Instrument:  # its symbol and venue refuse spaces: a few real ones
        return st.sampled_from(SAMPLE_INSTRUMENTS)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if origin is tuple:
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            return st.lists(strategy_for(args[0], name), max_size=3).map(tuple)
        return st.tuples(*(strategy_for(arg, name) for arg in args))  # tuple[X, Y, Z]
    if origin is set:
        return st.sets(strategy_for(get_args(annotation)[0], name), max_size=3)
    if origin is frozenset:
        return st.frozensets(strategy_for(get_args(annotation)[0], name), max_size=3)
    if origin is dict:
        value = get_args(annotation)[1]
        values = metric if "MetricValue" in str(value) else strategy_for(value, name)
        return st.dictionaries(text, values, max_size=3)
    if annotation is typing.Any or str(annotation).endswith("MetricValue"):
        return metric
    raise AssertionError(f"no strategy for {name}: {annotation!r}")


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    fields = {
        name: strategy_for(info.annotation, name) for name, info in model.model_fields.items()
    }
    return st.fixed_dictionaries(fields).map(model.model_validate)


def event_strategy(cls: type[EventBase]) -> st.SearchStrategy[EventBase]:
    payload_type = cls.model_fields["payload"].annotation
    assert isinstance(payload_type, type)
    return st.builds(
        cls.create,
        source=text,
        payload=model_strategy(payload_type),
        ts=st.integers(0, 2**63 - 1),
    )


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_encode_then_decode_is_identity(kind: str, data: st.DataObject) -> None:
    event = data.draw(event_strategy(EVENT_TYPES[kind]))
    fields = encode(event)
    assert decode(fields) == event
    # the same through str keys/values (what a decode_responses client returns)
    assert decode({k.decode(): v.decode() for k, v in fields.items()}) == event
    # and through the JSON-lines form used by `silvertine replay --json`
    assert EVENT_ADAPTER.validate_json(event.model_dump_json()) == event


def quote_fields() -> dict[bytes, bytes]:
    return encode(QuoteEvent.create("paper", Quote(instrument="X.P", bid=Decimal("1.5"))))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda f: f.pop(b"p"), "missing field(s): p"),
        (lambda f: f.update({b"p": b"{not json"}), "quote"),
        (lambda f: f.update({b"p": b'{"instrument": "X.P", "bid": "abc"}'}), "bid"),
        (lambda f: f.update({b"p": b'{"instrument": "X.P", "bid": "NaN"}'}), "bid"),
        (lambda f: f.update({b"ts": b"soon"}), "integers"),
        (lambda f: f.update({b"id": b""}), "empty event id"),
        (lambda f: f.update({b"p": b"\xff\xfe"}), "quote"),
        (lambda f: f.update({b"t": b"\xff"}), "UnicodeDecodeError"),
    ],
)
def test_malformed_entries_become_decode_errors(mutate: Any, reason: str) -> None:
    fields = quote_fields()
    mutate(fields)
    result = decode(fields)
    assert isinstance(result, DecodeError)
    assert reason in result.reason


def test_unknown_type_and_newer_version_are_kept_as_unknown() -> None:
    fields = quote_fields()
    fields[b"t"] = b"option.greeks"
    unknown = decode(fields)
    assert isinstance(unknown, UnknownEvent)
    assert unknown.type == "option.greeks"
    fields = quote_fields()
    fields[b"v"] = b"99"
    newer = decode(fields)
    assert isinstance(newer, UnknownEvent)
    assert newer.v == 99


def test_decimals_travel_as_strings() -> None:
    event = OrderUpdateEvent.create(
        "paper/main",
        OrderUpdate(client_order_id="c1", status=OrderStatus.NEW, avg_price=Decimal("0.1")),
    )
    assert b'"avg_price":"0.1"' in encode(event)[b"p"]


def test_event_ids_are_unique_and_time_ordered() -> None:
    now = [1_000]
    factory = EventIdFactory(clock=lambda: now[0], node=7)
    ids = [factory.next()[0] for _ in range(100)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 100  # the clock did not move, the ids still did
    other = EventIdFactory(clock=lambda: now[0], node=8)
    assert other.next()[0] not in ids


def test_source_names_broker_and_account() -> None:
    event = OrderUpdateEvent.create(
        "binance/spot", OrderUpdate(client_order_id="c1", status=OrderStatus.NEW)
    )
    assert (event.broker, event.account) == ("binance", "spot")


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_every_kind_has_a_description(kind: str, data: st.DataObject) -> None:
    event = data.draw(event_strategy(EVENT_TYPES[kind]))
    text = describe(event)  # type: ignore[arg-type]
    assert isinstance(text, str)
    assert text


def test_bad_entries_are_described() -> None:
    assert describe(DecodeError("missing field(s): p")).startswith("undecodable entry")
    assert "option.greeks" in describe(UnknownEvent("option.greeks", 1, "x", 1, "s", b"{}"))


def test_decode_flat_matches_decode_in_any_field_order() -> None:
    fields = quote_fields()
    event = decode(fields)
    ordered = [x for kv in fields.items() for x in kv]
    assert decode_flat(ordered) == event
    shuffled = [x for kv in reversed(list(fields.items())) for x in kv]
    assert decode_flat(shuffled) == event
    broken = ordered[:-1]  # odd length: not a field list
    assert isinstance(decode_flat(broken), DecodeError)
    bad = [*ordered[:-1], b"{not json"]
    assert isinstance(decode_flat(bad), DecodeError)
    missing = decode_flat(None)  # type: ignore[arg-type]  # a nil entry from the server
    assert isinstance(missing, DecodeError)
    assert "no field list" in missing.reason


_WIRE_ODDITIES = [
    b"",
    b"0",
    b"1",
    b"2",
    b"01",
    b" 1",
    b"+1",
    b"-1",
    b"1_0",
    b"99",
    b"\xff",
    b"quote",
    b"order.update",
    b"option.greeks",
    b"{}",
    b'{"instrument": "X.P", "bid": "NaN"}',
    b'{"client_order_id": "c1", "status": "NEW", "filled_qty": "-1"}',
    b'{"client_order_id": "c1", "status": "NEW", "surprise": 1}',
]


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_short_path_takes_only_what_the_careful_path_takes(data: st.DataObject) -> None:
    """`decode_flat`'s short path (replay's hot loop) against `_decode_careful`, which
    names every problem: on any entry, good or bad, both give the same result."""
    from silvertine_tui.events.codec import _decode_careful

    base = data.draw(
        st.sampled_from(
            [
                quote_fields(),
                encode(
                    OrderUpdateEvent.create(
                        "paper/main",
                        OrderUpdate(
                            client_order_id="c1",
                            status=OrderStatus.PARTIALLY_FILLED,
                            filled_qty=Decimal("0.5"),
                        ),
                    )
                ),
            ]
        )
    )
    fields: dict[bytes, bytes] = {}
    for key, value in base.items():
        choice = data.draw(st.sampled_from(["keep", "oddity", "bytes", "drop"]))
        if choice == "keep":
            fields[key] = value
        elif choice == "oddity":
            fields[key] = data.draw(st.sampled_from(_WIRE_ODDITIES))
        elif choice == "bytes":
            fields[key] = data.draw(st.binary(max_size=16))
    if data.draw(st.booleans()):
        fields[data.draw(st.sampled_from([b"x", b"T", b"p2"]))] = b"1"
    items = list(fields.items())
    if data.draw(st.booleans()):
        items = data.draw(st.permutations(items))
    flat = [x for kv in items for x in kv]
    expected = _decode_careful(dict(items))
    got = decode_flat(flat)
    assert type(got) is type(expected)
    assert got == expected
    if isinstance(got, EventBase):
        assert got.model_fields_set == expected.model_fields_set  # type: ignore[union-attr]
        assert EVENT_ADAPTER.validate_python(got.model_dump()) == got
    # and the mapping form takes the same path
    assert decode(dict(items)) == expected


def test_the_short_path_keeps_every_check() -> None:
    """Entries that differ from a good one in one field only, each refused by a check
    the short path must make itself (a short path without it would take them)."""
    good = [x for kv in quote_fields().items() for x in kv]
    assert isinstance(decode_flat(good), QuoteEvent)
    for index, value in (
        (3, b"2"),  # a version this build does not know
        (3, b"0"),
        (5, b""),  # empty event id
        (7, b"-5"),  # negative ts
        (9, b""),  # empty source
        (11, b'{"instrument": "X.P", "bid": "NaN"}'),
        (1, b"order.update"),  # a quote's payload under another type
    ):
        entry = list(good)
        entry[index] = value
        assert not isinstance(decode_flat(entry), EventBase), (index, value)
