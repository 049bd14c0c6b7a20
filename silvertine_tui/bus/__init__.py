"""The event bus: one contract (`EventBus`), memory and Redis Streams backends."""

from .base import (
    BusEntry,
    BusError,
    BusOptions,
    BusOverflowError,
    BusStats,
    BusUnavailableError,
    Claim,
    EventBus,
    StreamInfo,
    format_id,
    parse_id,
)
from .factory import SCHEMES, create_bus
from .layout import StreamLayout
from .memory import MemoryBus

__all__ = [
    "SCHEMES",
    "BusEntry",
    "BusError",
    "BusOptions",
    "BusOverflowError",
    "BusStats",
    "BusUnavailableError",
    "Claim",
    "EventBus",
    "MemoryBus",
    "StreamInfo",
    "StreamLayout",
    "create_bus",
    "format_id",
    "parse_id",
]
