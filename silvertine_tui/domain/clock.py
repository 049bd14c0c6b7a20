"""Times of day as the desk says them: UTC, as the header's clock."""

from __future__ import annotations

from datetime import UTC, datetime

DAY_NS = 86_400 * 1_000_000_000
"""A day in nanoseconds (a UTC day: the paper venue's DAY orders end at its end)."""
NO_TIME = "--:--:--"
"""A time no date can hold (a venue's time far out of range), as wide as a time."""


def time_of_day(epoch_s: float) -> str:
    """`14:30:01`: the time of day in UTC of `epoch_s`; `NO_TIME` for one no date can
    hold. A venue's time is anyone's figure: a fill's `venue_ts_ns` of 10**21 raised
    out of the Log's model (the fill's line dropped) and out of the order history's key
    (the app ended)."""
    try:
        return f"{datetime.fromtimestamp(epoch_s, UTC):%H:%M:%S}"
    except (OverflowError, OSError, ValueError):
        return NO_TIME


def utc_time(epoch_ns: int) -> str:
    """`14:30:01 UTC`: a moment said in a message (until when a venue bans or holds
    requests), named UTC since a message outlives the header beside it."""
    return f"{time_of_day(epoch_ns / 1e9)} UTC"
