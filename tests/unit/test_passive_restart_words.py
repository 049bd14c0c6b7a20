"""A restart that showed no loss: a trading desk's bus knows (it counts what it wrote);
a watching desk's bus writes nothing and cannot tell (an older copy of the data keeps
the epoch key), so it must not say "no journaled data was lost"."""

from __future__ import annotations

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus

URL = "redis://127.0.0.1:6379/0"


def test_a_trading_desks_bus_says_nothing_was_lost() -> None:
    bus = RedisBus(URL, BusOptions(prefix="t-words"))
    assert bus._none_lost() == "no journaled data was lost"


def test_a_watching_desks_bus_says_it_cannot_tell() -> None:
    bus = RedisBus(URL, BusOptions(prefix="t-words", passive=True))
    said = bus._none_lost()
    assert "no journaled data was lost" not in said
    assert "cannot tell whether entries were lost" in said
