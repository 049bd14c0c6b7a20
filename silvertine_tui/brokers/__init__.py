"""Broker contract, registry, and adapters (paper, binance, ib)."""
