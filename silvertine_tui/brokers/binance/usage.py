"""Binance's rate-limit usage as the venue reports it, and how long to hold back.

Binance counts REST request weight per IP per clock minute (`X-MBX-USED-WEIGHT-1M`) and
new orders per account in 10 s (`X-MBX-ORDER-COUNT-10S`); both come back as response
headers. A 429 asks us to wait `Retry-After` seconds (calling earlier escalates to an IP
ban), a 418 is that ban. `Usage` keeps the last figures, the ban and back-off deadlines,
and answers "how long must this kind of call wait"; `BinanceRest` does the waiting.

Windows are in Binance's time (local clock + the client's `timestamp_offset`), because
the weight counter resets on the server's minute.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDER_COUNT_1D_HEADER = "X-MBX-ORDER-COUNT-1D"

# Documented request weights the hold-back judges a call by before sending it (every
# other call: 1; what each call used is read back from the headers).
AMEND_WEIGHT = 4  # PUT /api/v3/order/amend/keepPriority

MINUTE_MS = 60_000
# Binance's clock as its stream events carry it is trusted this long after the last one.
EVENT_CLOCK_FRESH_MS = 60_000
# The order count is a rolling 10 s figure: 10 s after it was read, every order it
# counted has left the window.
ORDER_WINDOW_NS = 10_000_000_000


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        raw = headers.get(name.lower())
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


class Usage:
    """The last usage Binance reported, the ban/back-off deadlines and the counters."""

    def __init__(
        self,
        *,
        weight_limit_1m: int = 6000,
        order_limit_10s: int = 100,
        throttle_at: float = 0.9,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.weight_limit_1m = weight_limit_1m
        self.order_limit_10s = order_limit_10s
        self.throttle_at = throttle_at
        self._clock = clock
        # Binance's clock minus ours (python-binance's `timestamp_offset`), milliseconds.
        self.offset_ms = 0
        # Binance's clock minus ours as the last stream event showed it (its `E` less
        # our clock when it arrived: low by the delivery's delay), and when (our ms).
        # Apart from `/time`: what a -1021 that a re-sync from `/time` did not cure is
        # measured by (`event_offset_ms`).
        self._event_offset_ms = 0
        self._event_at_ms: int | None = None
        self._weight = 0
        self._weight_minute = -1
        self._orders = 0
        self._orders_seen_ns = 0
        self.orders_1d: int | None = None
        # No call goes out before these (local clock, ns): a 418 ban, a 429's Retry-After.
        self.banned_until_ns = 0
        self.retry_not_before_ns = 0
        # Counters for health: 429 answers, 418 answers, calls held back or refused here.
        self.rate_limited = 0
        self.bans = 0
        self.throttled = 0

    # ------------------------------------------------------------ observing

    def server_ms(self) -> int:
        """Binance's clock now, as far as we know it (milliseconds)."""
        return self._clock() // 1_000_000 + self.offset_ms

    def note_event_time(self, venue_ms: int) -> None:
        """A stream event stamped `venue_ms` by Binance (its `E`) arrived now."""
        now_ms = self._clock() // 1_000_000
        self._event_offset_ms, self._event_at_ms = venue_ms - now_ms, now_ms

    def event_offset_ms(self) -> int | None:
        """Binance's clock minus ours by the last stream event, when one came within
        `EVENT_CLOCK_FRESH_MS` (else None)."""
        at = self._event_at_ms
        if at is None or self._clock() // 1_000_000 - at > EVENT_CLOCK_FRESH_MS:
            return None
        return self._event_offset_ms

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the usage headers of one response (success or error)."""
        weight = _header_int(headers, WEIGHT_HEADER)
        if weight is not None:
            minute = self.server_ms() // MINUTE_MS
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, weight
            else:
                # Answers to concurrent calls can arrive out of order: the count only
                # grows within a minute, so the largest is the latest.
                self._weight = max(self._weight, weight)
        orders = _header_int(headers, ORDER_COUNT_HEADER)
        if orders is not None:
            self._orders, self._orders_seen_ns = orders, self._clock()
        orders_1d = _header_int(headers, ORDER_COUNT_1D_HEADER)
        if orders_1d is not None:
            self.orders_1d = orders_1d

    def rate_limited_for(self, seconds: float) -> None:
        """A 429: nothing may be sent for `seconds` (Retry-After)."""
        self.rate_limited += 1
        until = self._clock() + int(seconds * 1e9)
        self.retry_not_before_ns = max(self.retry_not_before_ns, until)

    def banned_for(self, seconds: float) -> None:
        """A 418: the IP is banned for `seconds`."""
        self.bans += 1
        until = self._clock() + int(seconds * 1e9)
        self.banned_until_ns = max(self.banned_until_ns, until)

    # ------------------------------------------------------------ figures

    @property
    def weight_1m(self) -> int:
        """Request weight used in Binance's current minute (0 once that minute is over)."""
        if self.server_ms() // MINUTE_MS != self._weight_minute:
            return 0
        return self._weight

    @property
    def order_count_10s(self) -> int:
        """New orders in the last 10 s, as last reported (0 once 10 s have passed)."""
        if self._clock() - self._orders_seen_ns >= ORDER_WINDOW_NS:
            return 0
        return self._orders

    def banned_s(self) -> float:
        """Seconds left of a 418 ban (0: not banned)."""
        return max(0.0, (self.banned_until_ns - self._clock()) / 1e9)

    def backoff_s(self) -> float:
        """Seconds left of a 429's Retry-After (0: none)."""
        return max(0.0, (self.retry_not_before_ns - self._clock()) / 1e9)

    def weight_reset_s(self) -> float:
        """Seconds until Binance's minute rolls over and the weight count restarts."""
        server_ms = self.server_ms()
        return ((server_ms // MINUTE_MS + 1) * MINUTE_MS - server_ms) / 1000

    def order_reset_s(self) -> float:
        """Seconds until the last reported order count has surely left the window."""
        left = self._orders_seen_ns + ORDER_WINDOW_NS - self._clock()
        return max(0.0, left / 1e9)

    # ------------------------------------------------------------ holding back

    def read_wait_s(self) -> float:
        """How long a read must wait: reads stop at `throttle_at` of the weight limit, so
        the rest of the minute is kept for orders and cancels."""
        if self.weight_1m >= self.throttle_at * self.weight_limit_1m:
            return self.weight_reset_s()
        return 0.0

    def trade_wait_s(self, weight: int = 1) -> float:
        """How long an order or a cancel must wait: only when it would pass the limit."""
        if self.weight_1m + weight > self.weight_limit_1m:
            return self.weight_reset_s()
        return 0.0

    def order_wait_s(self) -> float:
        """How long a new order must wait for the 10 s order count to drop."""
        if self.order_count_10s >= self.order_limit_10s:
            return self.order_reset_s()
        return 0.0

    def as_metrics(self) -> dict[str, int]:
        """Health figures (all integers: the health pane shows a float in [0, 1] as a
        percentage). `banned_s` and `backoff_s` count down to 0."""
        return {
            "weight_1m": self.weight_1m,
            "weight_limit_1m": self.weight_limit_1m,
            "orders_10s": self.order_count_10s,
            "order_limit_10s": self.order_limit_10s,
            "banned_s": math.ceil(self.banned_s()),
            "backoff_s": math.ceil(self.backoff_s()),
            "rate_limited": self.rate_limited,
            "bans": self.bans,
            "throttled": self.throttled,
        }
