"""Interactive Brokers through TWS or IB Gateway (ib_async). See `broker.py`."""

from .broker import IBBroker

__all__ = ["IBBroker"]
