"""Latency, report faults and execution metrics of the paper adapter.

Each has its own seeded generator, so turning latency on or off never changes the
prices of the synthetic market, and the faults never change the latencies.
Latencies and metrics are display figures in float seconds/milliseconds; nothing here
touches money.
"""

from __future__ import annotations

import random
from collections import deque
from decimal import Decimal

from ...config import PaperFaultsConfig, PaperLatencyConfig
from ...domain import ZERO, Side
from ...domain.money import fmt


class LatencyModel:
    """Fixed delay plus a seeded uniform jitter in ``[0, jitter_ms]``; 0 when disabled."""

    def __init__(self, config: PaperLatencyConfig, rng: random.Random) -> None:
        self.enabled = config.enabled
        self.ack_ms = config.ack_ms
        self.fill_ms = config.fill_ms
        self.cancel_ms = config.cancel_ms
        self.jitter_ms = config.jitter_ms
        self.rng = rng

    def _draw(self, base_ms: float) -> float:
        if not self.enabled:
            return 0.0
        jitter = self.rng.uniform(0.0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return (base_ms + jitter) / 1000.0

    def ack(self) -> float:
        """Seconds from sending an order (or a replace) to the venue acting on it."""
        return self._draw(self.ack_ms)

    def fill(self) -> float:
        """Seconds from an execution at the venue to its report."""
        return self._draw(self.fill_ms)

    def cancel(self) -> float:
        """Seconds from sending a cancel to the venue acting on it."""
        return self._draw(self.cancel_ms)


class FaultInjector:
    """Duplicate and late reports, as real venues produce them (off by default).

    The rates may be changed at run time (the contract tests switch them on).
    """

    def __init__(self, config: PaperFaultsConfig, rng: random.Random) -> None:
        self.duplicate_rate = config.duplicate_reports
        self.late_rate = config.late_reports
        self.rng = rng
        self.duplicates = 0
        self.late = 0

    def duplicate(self) -> bool:
        if self.duplicate_rate > 0 and self.rng.random() < self.duplicate_rate:
            self.duplicates += 1
            return True
        return False

    def stale(self) -> bool:
        if self.late_rate > 0 and self.rng.random() < self.late_rate:
            self.late += 1
            return True
        return False


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


class ExecutionMetrics:
    """Rolling execution figures published with the adapter's health.

    - ack_ms: from `place` (or a replace) being sent to the acknowledgement published;
    - fill_ms: from an execution at the venue to its fill report published;
    - slippage_bps: per fill, ``side * (fill price - arrival mid) / arrival mid * 1e4``
      where the arrival mid is the mid when the order was sent. Positive is a cost. The
      average is weighted by the fills' quantities: an order's fills average to the
      order's slippage at its average price (a market buy of 2.5 at 2,000.65 against a
      mid of 2,000.00: 3.25 bps, not the 3.125 of its two fills' plain mean).
    """

    def __init__(self, window: int = 1000) -> None:
        self.ack_ms: deque[float] = deque(maxlen=window)
        self.fill_ms: deque[float] = deque(maxlen=window)
        self.slippage_bps: deque[float] = deque(maxlen=window)
        # (slippage in bps x quantity, quantity) per fill, over the same window.
        self._slippage_weighted: deque[tuple[Decimal, Decimal]] = deque(maxlen=window)
        self.orders = 0
        self.fills = 0
        self.rejects = 0
        self.cancels = 0
        self.fees: dict[str, Decimal] = {}

    def on_ack(self, seconds: float) -> None:
        self.orders += 1
        self.ack_ms.append(seconds * 1000.0)

    def on_fill(
        self,
        seconds: float,
        side: Side,
        price: Decimal,
        arrival_mid: Decimal | None,
        fee: Decimal,
        currency: str,
        quantity: Decimal,
    ) -> None:
        self.fills += 1
        self.fill_ms.append(seconds * 1000.0)
        self.fees[currency] = self.fees.get(currency, ZERO) + fee
        if arrival_mid:
            bps = (price - arrival_mid) / arrival_mid * 10_000 * side.sign
            self.slippage_bps.append(float(bps))
            self._slippage_weighted.append((bps * quantity, quantity))

    def as_extra(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = {
            "orders": self.orders,
            "fills": self.fills,
            "rejects": self.rejects,
            "cancels": self.cancels,
        }
        for name, values in (("ack_ms", self.ack_ms), ("fill_ms", self.fill_ms)):
            if values:
                data = list(values)
                out[f"{name}_p50"] = round(_percentile(data, 50), 3)
                out[f"{name}_p99"] = round(_percentile(data, 99), 3)
                out[f"{name}_last"] = round(data[-1], 3)
        if self.slippage_bps:
            weighted = sum((w for w, _ in self._slippage_weighted), ZERO)
            size = sum((q for _, q in self._slippage_weighted), ZERO)
            if size:
                out["slippage_bps_avg"] = round(float(weighted / size), 3)
            out["slippage_bps_last"] = round(self.slippage_bps[-1], 3)
        for currency, amount in sorted(self.fees.items()):
            out[f"fees:{currency}"] = fmt(amount)
        return out
