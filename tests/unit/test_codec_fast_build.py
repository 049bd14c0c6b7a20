"""Events built by the decoder's short path are the same objects pydantic would make."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from silvertine_tui.events import EventBase, decode, decode_flat, encode
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


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_decoded_event_behaves_like_a_validated_one(event: EventBase) -> None:
    validated = type(event).model_validate(event.model_dump())
    for decoded in (decode(encode(event)), decode_flat(flat(event))):
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
