"""A Decimal read from the wire is the number written, digit for digit, or refused.

The wire carries Decimals as JSON strings. An entry whose price or quantity is a JSON
number with a fraction or exponent (an outside writer: a script, another language's
client) would be parsed through a binary float before any validator sees it, and the
desk would show another number than the journal holds (12345678.123456789 read as
12345678.12345679). Such an entry is refused: a counted decode error, as any malformed
entry is. An integer is exact and still taken; Python values (config, typed input, an
adapter's conversions) are validated as before.
"""

from __future__ import annotations

import json
from decimal import Decimal

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Fill
from silvertine_tui.engine.projection import project
from silvertine_tui.events import DecodeError, FillEvent, decode, encode
from silvertine_tui.events.codec import FieldMap
from tests.support import fill_event


def _price_written_as(number: str) -> FieldMap:
    """A fill's entry with its price replaced by `number`, as raw JSON."""
    fields = encode(fill_event(1))
    payload = json.loads(fields[b"p"])
    body = fields[b"p"].decode().replace(json.dumps(payload["price"]), number)
    assert f'"price":{number}' in body.replace(" ", "")
    fields[b"p"] = body.encode()
    return fields


async def test_a_price_written_as_a_json_number_is_not_shown_as_another_number() -> None:
    bus = MemoryBus()
    await bus.start()
    stream = bus.layout.exec("paper", "main")
    # The journal holds the digits 12345678.123456789.
    bus.append_raw(stream, _price_written_as("12345678.123456789"))

    (entry,) = await bus.read(stream)
    if isinstance(entry.event, FillEvent):
        # Taken as an event: then it must be the journal's number, digit for digit.
        assert entry.event.payload.price == Decimal("12345678.123456789")
    else:  # or refused: counted, as bad data must be
        assert bus.stats.decode_errors == 1

    desk = await project(bus, [("paper", "main")], market_data=False)
    state = desk.positions.get(("paper", "main", "BTCUSDT.BINANCE"))
    if state is not None:
        assert state.avg_price == Decimal("12345678.123456789")


def test_a_json_number_with_a_fraction_or_exponent_is_a_named_decode_error() -> None:
    for number in ("1.5", "1e3", "-0.25"):
        decoded = decode(_price_written_as(number))
        assert isinstance(decoded, DecodeError), number
        assert decoded.reason.startswith("fill: price: a Decimal must be a JSON string")


def test_a_json_integer_is_exact_and_taken() -> None:
    decoded = decode(_price_written_as("123456789012345678901234567890"))
    assert isinstance(decoded, FillEvent)
    assert decoded.payload.price == Decimal("123456789012345678901234567890")


def test_a_json_string_keeps_every_digit() -> None:
    decoded = decode(_price_written_as('"12345678.123456789"'))
    assert isinstance(decoded, FillEvent)
    assert decoded.payload.price == Decimal("12345678.123456789")


def test_python_values_are_validated_as_before() -> None:
    """Only JSON is held to strings: a model built in Python (config, an adapter's own
    conversion) takes a float as pydantic always did, through its shortest text."""
    fill = fill_event(1).payload
    rebuilt = Fill.model_validate({**fill.model_dump(), "price": 1.25, "quantity": 2})
    assert rebuilt.price == Decimal("1.25")
    assert rebuilt.quantity == Decimal("2")
