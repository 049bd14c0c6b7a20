"""Config -> bus. The session (engine issue) builds on this."""

from __future__ import annotations

from ..bus import BusOptions, EventBus, create_bus
from ..config import BusConfig

MEMORY_MD_MAXLEN = 2_000
"""Market-data entries the memory bus keeps (Redis keeps `bus.md_maxlen`, 100,000).

They are live objects (an L2 book is kilobytes) that nobody outside the process can
read; in the process the engine and the UI read them as they come. What they cost is
the cyclic collector's: each entry is four objects it walks. On the ui benchmark's
working desk (10,000 quotes a second; 30 s runs, the collector traced, alternating) a
window of 10,000 made generation-1 passes of 44-67 ms every 5 s, young passes 1.1-1.2
s of every 30, and the desk 0.66-0.68 of a core; with 2,000, passes of 17-25 ms every
11-13 s, young passes 0.7-0.8 s, 0.55-0.58 of a core and 12 MB less RSS growth (5,000
was between). 2,000 is 0.2 s of that firehose, and minutes of a paper desk's. A reader
further behind than that (a loop stalled as long) reads on from the oldest entry kept,
as it would from Redis trimmed by `MAXLEN`: market data is conflatable (the newest
quote is the state); journals are never trimmed by length."""
# Health heartbeats (one a second per broker, each a few kilobytes of metrics as live
# objects) filled the 10,000 kept for Redis over 2.8 hours: +0.18 MB a minute on an
# idle desk. A thousand is over 16 minutes of them; profiles are republished within it.
MEMORY_HEALTH_MAXLEN = 1_000


def bus_options(config: BusConfig, *, passive: bool = False) -> BusOptions:
    md_maxlen, health_maxlen = config.md_maxlen, config.health_maxlen
    if config.url.startswith("memory://"):
        md_maxlen = min(md_maxlen, MEMORY_MD_MAXLEN)
        health_maxlen = min(health_maxlen, MEMORY_HEALTH_MAXLEN)
    return BusOptions(
        prefix=config.prefix,
        md_maxlen=md_maxlen,
        health_maxlen=health_maxlen,
        signal_maxlen=config.signal_maxlen,
        snapshot_keep=config.snapshot_keep,
        journal_retention_s=config.journal_retention_s,
        exec_buffer=config.exec_buffer,
        md_flush_interval_ms=config.md_flush_interval_ms,
        block_ms=config.block_ms,
        passive=passive,
    )


def open_bus(config: BusConfig, *, passive: bool = False) -> EventBus:
    """Build (not start) the bus the config names (`passive`: writing nothing of its
    own, for a watching desk). The password never leaves SecretStr except into the
    Redis client."""
    password = config.password.get_secret_value() if config.password else None
    return create_bus(config.url, bus_options(config, passive=passive), password=password)
