"""Session wiring, OMS, portfolio and P&L, risk gate, health, recovery."""

from .session import FeedEntry, Session
from .wiring import bus_options, open_bus

__all__ = ["FeedEntry", "Session", "bus_options", "open_bus"]
