"""Times of day in messages: one helper (`domain/clock.py`), on the desk's clock.

Three places wrote `HH:MM:SS UTC` each their own way, and the engine's words for a
cancel a venue's ban kept from going read the machine's wall clock, not the broker's
injected one: a desk on a replayed or simulated clock said a ban ran until a time of
another day."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain.clock import time_of_day, utc_time
from silvertine_tui.engine import cancels
from silvertine_tui.ui.format import clock_text
from tests.unit.test_paper_broker import paper_config

NOON = int(datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC).timestamp() * 1e9)


def test_a_moment_is_said_in_utc_whatever_the_machines_zone() -> None:
    assert utc_time(NOON) == "12:00:05 UTC"
    assert time_of_day(NOON / 1e9) == "12:00:05"


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_the_header_and_messages_say_the_same_time(epoch_ns: int) -> None:
    assert utc_time(epoch_ns) == f"{clock_text(epoch_ns / 1e9)} UTC"


def test_a_bans_until_is_on_the_brokers_clock_not_the_wall_clock() -> None:
    broker = PaperBroker(paper_config(), MemoryBus(), clock=lambda: NOON)
    why = cancels._barred_why(broker, 90)
    assert "until 12:01:35 UTC (90 s more)" in why, why
