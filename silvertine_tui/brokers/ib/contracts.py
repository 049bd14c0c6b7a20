"""Instrument keys <-> IB contracts, and contract details -> `Instrument`.

Keys are `SYMBOL.VENUE` as everywhere: the symbol is IB's local symbol (spaces kept, as
in option symbols `AAPL  261218C00200000.SMART`), the venue the IB exchange to route to
(`SMART`, `CME`, `IDEALPRO`, `PAXOS`). The security type is not in the key; it follows
from the venue and the symbol's shape, and each guess is asked of TWS in turn
(`candidates`), so a wrong guess costs one request, never a wrong contract.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ib_async import Contract, ContractDetails

from ...domain import Instrument, InstrumentKind, quantized, split_key
from ..errors import OrderRejected

FOREX_VENUES = frozenset({"IDEALPRO", "IDEAL"})
CRYPTO_VENUES = frozenset({"PAXOS", "ZEROHASH"})
FUTURE_VENUES = frozenset(
    {"CME", "CBOT", "NYMEX", "COMEX", "GLOBEX", "ECBOT", "NYBOT", "CFE", "ICEUS", "ICEEU"}
    | {"EUREX", "SGX", "HKFE", "OSE.JPN", "IPE", "MEFFRV", "MONEP", "LIFFE"}
)


KINDS = {"FUT": InstrumentKind.FUTURE, "OPT": InstrumentKind.OPTION, "FOP": InstrumentKind.OPTION}
"""IB security types that are not bought outright (anything else is SPOT)."""
PER_UNIT_FEES = frozenset({"STK", "FUT", "OPT", "FOP"})
"""Security types IB charges commission on per share or contract (its fixed and tiered
schedules); currencies (CASH) and crypto are charged a fraction of the trade value."""
FX_FEE_RATE = Decimal("0.00002")
"""IB's commission on currencies (IDEALPRO): 0.20 basis points of the trade value, the
top of its tiers (`Instrument.fee_rate`, the ticket's estimate before a fill)."""
FX_FEE_MINIMUM_USD = Decimal(2)
"""IB's least commission on a currency order, 2 USD: the estimate's minimum for a pair
quoted in USD (another quote currency's is not known here without a rate)."""


class SameContract(OrderRejected):
    """A key whose IB contract another key already stands for (`AAPL.NASDAQ` after
    `AAPL.SMART`: one conId). ib_async keeps one ticker per conId and IB one position,
    so two keys of one contract shared a ticker (one key quoted, the other never) and
    IB's reports went to one of them: the later key is refused, the first kept."""

    def __init__(self, key: str, con_id: int, holder: str) -> None:
        super().__init__(
            f"{key} is the same IB contract (conId {con_id}) as {holder}: configure one "
            f"of them (quoted and traded as {holder})",
            code="same_contract",
        )
        self.key, self.con_id, self.holder = key, con_id, holder

    @property
    def said(self) -> str:
        """As the `symbols` link names it."""
        return (
            f"{self.key} is the same IB contract (conId {self.con_id}) as {self.holder}: "
            "configure one of them"
        )


def to_decimal(value: float | int | str | Decimal | None) -> Decimal:
    """ib_async hands numbers as floats: the shortest repr is what TWS sent."""
    if value is None or value == "":
        return Decimal(0)
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return quantized(number, Decimal(1))  # 3.0 -> 3
    return number


STOCK_VENUES = frozenset(
    {"SMART", "NASDAQ", "NYSE", "ARCA", "AMEX", "BATS", "IEX", "ISLAND", "CBOE", "ISE"}
    | {"LSE", "IBIS", "SBF", "AEB", "TSE", "ASX", "SEHK", "FWB", "EBS", "VENTURE"}
)
KNOWN_VENUES = FOREX_VENUES | CRYPTO_VENUES | FUTURE_VENUES | STOCK_VENUES


def normalize_key(symbol: str, default_venue: str) -> str:
    """A configured symbol as a key: `AAPL` -> `AAPL.SMART`, `BRK.B` -> `BRK.B.SMART`;
    `ESZ6.CME` stays (a known venue, or any suffix of four letters or more)."""
    _, dot, venue = symbol.rpartition(".")
    if dot and (venue in KNOWN_VENUES or len(venue) >= 4):
        return symbol
    return f"{symbol}.{default_venue}"


def candidates(key: str) -> list[Contract]:
    """The contract queries that may describe `key`, most likely first."""
    symbol, venue = split_key(key)
    if venue in FOREX_VENUES or venue in CRYPTO_VENUES:
        base, _, quote = symbol.partition(".")
        kind = "CASH" if venue in FOREX_VENUES else "CRYPTO"
        return [Contract(secType=kind, symbol=base, currency=quote or "USD", exchange=venue)]
    futures = [Contract(secType="FUT", localSymbol=symbol, exchange=venue)]
    options = [
        Contract(secType="OPT", localSymbol=symbol, exchange=venue),
        Contract(secType="FOP", localSymbol=symbol, exchange=venue),
    ]
    stocks = [
        Contract(secType="STK", symbol=symbol, exchange=venue),
        Contract(secType="STK", localSymbol=symbol, exchange=venue),
    ]
    if venue in FUTURE_VENUES:
        return futures + options
    if " " in symbol:
        return options + stocks
    return stocks + futures + options


def pick(key: str, found: list[ContractDetails]) -> ContractDetails | None:
    """One contract among TWS's answers: the one whose local symbol is the key's, else
    the only one; several listings of a stock prefer USD. None: ambiguous."""
    symbol, _ = split_key(key)
    exact = [d for d in found if d.contract is not None and d.contract.localSymbol == symbol]
    if len(exact) == 1:
        return exact[0]
    if len(found) == 1:
        return found[0]
    usd = [d for d in found if d.contract is not None and d.contract.currency == "USD"]
    return usd[0] if len(usd) == 1 else None


def instrument_from(key: str, details: ContractDetails) -> Instrument:
    contract = details.contract
    assert contract is not None
    symbol, venue = split_key(key)
    tick = to_decimal(details.minTick) or Decimal("0.01")
    lot = to_decimal(details.sizeIncrement) or Decimal(1)
    base = contract.symbol if contract.secType in ("CASH", "CRYPTO") else ""
    return Instrument(
        symbol=symbol,
        venue=venue,
        base_currency=base,
        quote_currency=contract.currency or "USD",
        tick_size=tick.normalize(),
        lot_size=lot.normalize(),
        min_qty=to_decimal(details.minSize).normalize(),
        multiplier=to_decimal(contract.multiplier or 1).normalize(),
        kind=KINDS.get(contract.secType, InstrumentKind.SPOT),
        fee_per_unit=contract.secType in PER_UNIT_FEES,
        fee_rate=FX_FEE_RATE if contract.secType == "CASH" else None,
        fee_minimum=FX_FEE_MINIMUM_USD
        if contract.secType == "CASH" and contract.currency == "USD"
        else Decimal(0),
        trading_hours=details.tradingHours or "",
        time_zone=details.timeZoneId or "",
    )


def key_of(contract: Any, default_venue: str) -> str:
    """A key for a contract TWS reported (positions, orders placed elsewhere) when no
    instrument of ours has its conId."""
    symbol = contract.localSymbol or contract.symbol
    venue = contract.exchange or default_venue
    return f"{symbol}.{venue}"
