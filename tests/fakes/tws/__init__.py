"""A local, wire-level fake of TWS / IB Gateway (ib_async 2.1.0, server version 178).
See README.md."""

from tests.fakes.tws.contracts import (
    CRYPTO,
    DEFAULT_CONTRACTS,
    FOREX,
    FUTURE,
    OPTION,
    STOCK,
    ContractSpec,
)
from tests.fakes.tws.server import ACCOUNT, FakeTws

__all__ = [
    "ACCOUNT",
    "CRYPTO",
    "DEFAULT_CONTRACTS",
    "FOREX",
    "FUTURE",
    "OPTION",
    "STOCK",
    "ContractSpec",
    "FakeTws",
]
