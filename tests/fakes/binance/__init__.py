"""A local, wire-level fake of Binance spot (python-binance 1.0.37). See README.md."""

from tests.fakes.binance.exchange import BinanceError, Commission
from tests.fakes.binance.filters import SymbolSpec
from tests.fakes.binance.server import API_KEY, API_SECRET, FakeBinance

__all__ = ["API_KEY", "API_SECRET", "BinanceError", "Commission", "FakeBinance", "SymbolSpec"]
