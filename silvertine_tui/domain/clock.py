"""Times of day as the desk says them: UTC, as the header's clock."""

from __future__ import annotations

from datetime import UTC, datetime


def time_of_day(epoch_s: float) -> str:
    """`14:30:01`: the time of day in UTC of `epoch_s`."""
    return f"{datetime.fromtimestamp(epoch_s, UTC):%H:%M:%S}"


def utc_time(epoch_ns: int) -> str:
    """`14:30:01 UTC`: a moment said in a message (until when a venue bans or holds
    requests), named UTC since a message outlives the header beside it."""
    return f"{time_of_day(epoch_ns / 1e9)} UTC"
