"""Binance spot adapter (python-binance over REST, the WebSocket API and market streams).

Registry target: `silvertine_tui.brokers.binance:BinanceBroker`.
"""

from .broker import BinanceBroker

__all__ = ["BinanceBroker"]
