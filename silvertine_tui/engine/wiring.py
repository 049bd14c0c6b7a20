"""Config -> bus. The session (engine issue) builds on this."""

from __future__ import annotations

from ..bus import BusOptions, EventBus, create_bus
from ..config import BusConfig

# The memory bus keeps market data as live objects (an L2 book is kilobytes), and nobody
# can replay it from outside the process: keep far less of it than Redis does.
MEMORY_MD_MAXLEN = 10_000
# Health heartbeats (one a second per broker, each a few kilobytes of metrics as live
# objects) filled the 10,000 kept for Redis over 2.8 hours: +0.18 MB a minute on an
# idle desk. A thousand is over 16 minutes of them; profiles are republished within it.
MEMORY_HEALTH_MAXLEN = 1_000


def bus_options(config: BusConfig) -> BusOptions:
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
    )


def open_bus(config: BusConfig) -> EventBus:
    """Build (not start) the bus the config names. The password never leaves SecretStr
    except into the Redis client."""
    password = config.password.get_secret_value() if config.password else None
    return create_bus(config.url, bus_options(config), password=password)
