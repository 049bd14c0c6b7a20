"""`Usage`: Binance's usage headers, its windows and the ban countdown (no network)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.binance.usage import Usage

MINUTE_NS = 60_000_000_000


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def usage_at(now_ns: int, **limits: int | float) -> tuple[Usage, Clock]:
    clock = Clock(now_ns)
    return Usage(clock=clock, **limits), clock  # type: ignore[arg-type]


def test_weight_counts_in_binances_minute_and_restarts_with_the_next() -> None:
    usage, clock = usage_at(100 * MINUTE_NS + 50_000_000_000)  # 50 s into a minute
    usage.observe({"X-MBX-USED-WEIGHT-1M": "5500"})
    assert usage.weight_1m == 5500
    assert usage.weight_reset_s() == pytest.approx(10)
    assert usage.read_wait_s() == pytest.approx(10)  # 5500 >= 0.9 * 6000
    assert usage.trade_wait_s() == 0  # orders and cancels keep the last 500
    # Binance's clock runs 5 s ahead of ours: its minute ends 5 s earlier.
    usage.offset_ms = 5_000
    assert usage.weight_reset_s() == pytest.approx(5)
    clock.now_ns += 5_000_000_000
    assert usage.weight_1m == 0
    assert usage.read_wait_s() == 0


def test_order_count_expires_ten_seconds_after_it_was_reported() -> None:
    usage, clock = usage_at(0, order_limit_10s=3)
    usage.observe({"x-mbx-order-count-10s": "3", "X-MBX-ORDER-COUNT-1D": "42"})
    assert (usage.order_count_10s, usage.orders_1d) == (3, 42)
    assert usage.order_wait_s() == pytest.approx(10)
    clock.now_ns += 9_000_000_000
    assert usage.order_wait_s() == pytest.approx(1)
    clock.now_ns += 1_000_000_000
    assert usage.order_count_10s == 0
    assert usage.order_wait_s() == 0


def test_ban_and_retry_after_count_down_in_the_metrics() -> None:
    usage, clock = usage_at(0)
    usage.banned_for(120)
    usage.rate_limited_for(3)
    assert usage.as_metrics()["banned_s"] == 120
    assert usage.as_metrics()["backoff_s"] == 3
    clock.now_ns += 119_500_000_000
    metrics = usage.as_metrics()
    assert (metrics["banned_s"], metrics["backoff_s"]) == (1, 0)
    assert (metrics["bans"], metrics["rate_limited"]) == (1, 1)
    clock.now_ns += 500_000_000
    assert usage.as_metrics()["banned_s"] == 0


def test_unreadable_headers_change_nothing() -> None:
    usage, _ = usage_at(0)
    usage.observe({"X-MBX-USED-WEIGHT-1M": "12"})
    usage.observe({"X-MBX-USED-WEIGHT-1M": "n/a", "Content-Type": "application/json"})
    assert usage.weight_1m == 12


@given(st.lists(st.integers(min_value=0, max_value=6000), min_size=1, max_size=20))
def test_answers_arriving_out_of_order_never_lower_the_minutes_weight(
    weights: list[int],
) -> None:
    """Answers to concurrent calls can arrive in any order; within one minute the count
    only grows, so the usage is the largest reported, whatever the arrival order."""
    usage, _ = usage_at(7 * MINUTE_NS)
    seen = 0
    for weight in weights:
        usage.observe({"X-MBX-USED-WEIGHT-1M": str(weight)})
        seen = max(seen, weight)
        assert usage.weight_1m == seen
