"""Binance spot adapter over python-binance (see docs/architecture.md)."""
