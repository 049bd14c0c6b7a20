"""Session wiring, OMS, portfolio and P&L, risk gate, health, recovery."""

from .cancels import CancelReport, KillReport
from .session import FeedEntry, Session
from .wiring import bus_options, open_bus

__all__ = ["CancelReport", "FeedEntry", "KillReport", "Session", "bus_options", "open_bus"]
