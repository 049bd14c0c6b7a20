"""The paper simulator: a seeded synthetic venue behind the `Broker` contract.

- `PaperBroker` (`broker.py`): the async adapter the registry builds
  (`PaperBroker(config, bus, clock=...)`): latency, publishing, restart from the journal.
- `PaperVenue` (`venue.py`): the pure, synchronous matching core (books, orders,
  triggers, time in force, fees, slippage, the account).
- `SyntheticMarket` (`market.py`): the seeded random walk and its L2 books.

How orders fill, with worked examples: docs/paper-simulator.md.
"""

from .account import Account, CashState, PositionState
from .broker import PaperBroker
from .instruments import BUILTIN_SPECS, VENUE, SymbolSpec, build_specs, symbol_spec
from .market import MarketBook, SyntheticMarket
from .orders import ExecReport, ReportKind, SimFill, SimOrder
from .venue import PaperVenue

__all__ = [
    "BUILTIN_SPECS",
    "VENUE",
    "Account",
    "CashState",
    "ExecReport",
    "MarketBook",
    "PaperBroker",
    "PaperVenue",
    "PositionState",
    "ReportKind",
    "SimFill",
    "SimOrder",
    "SymbolSpec",
    "SyntheticMarket",
    "build_specs",
    "symbol_spec",
]
