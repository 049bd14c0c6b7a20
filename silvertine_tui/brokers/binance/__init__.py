"""Binance spot adapter (python-binance over REST, the WebSocket API and market streams)."""
