"""The instruments the fake knows: what `reqContractDetails` answers and orders trade.

Matching follows TWS: every field the request sets must agree (`SMART` matches any
contract that lists SMART among its valid exchanges, a contract month `202612` matches a
last trade date `20261218`); `conId` alone is enough. Several matches are all returned
(ib_async then calls the contract ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

US_HOURS = "20261201:0930-20261201:1600;20261202:0930-20261202:1600"
ALWAYS = "20261201:0000-20261201:2359;20261202:0000-20261202:2359"


@dataclass(frozen=True)
class ContractSpec:
    con_id: int
    symbol: str
    sec_type: str  # STK, FUT, CASH, CRYPTO, OPT
    exchange: str
    currency: str
    local_symbol: str
    trading_class: str = ""
    primary_exchange: str = ""
    multiplier: str = ""
    min_tick: Decimal = Decimal("0.01")
    last_trade_date: str = ""
    strike: Decimal = Decimal("0")
    right: str = ""
    long_name: str = ""
    valid_exchanges: str = ""
    order_types: str = "LMT,MKT,STP,STPLMT"
    time_zone_id: str = "US/Eastern"
    trading_hours: str = US_HOURS
    liquid_hours: str = US_HOURS
    min_size: Decimal = Decimal("1")
    size_increment: Decimal = Decimal("1")
    market_rule_ids: str = "26"

    @property
    def unit(self) -> Decimal:
        """The contract multiplier as a number (1 when IB leaves it empty)."""
        return Decimal(self.multiplier) if self.multiplier else Decimal(1)

    @property
    def report_exchange(self) -> str:
        """Where fills are reported (IB names the venue, not SMART)."""
        return self.primary_exchange or self.exchange

    def on_tick(self, price: Decimal) -> bool:
        return (price / self.min_tick) % 1 == 0


STOCK = ContractSpec(
    con_id=265598,
    symbol="AAPL",
    sec_type="STK",
    exchange="SMART",
    primary_exchange="NASDAQ",
    currency="USD",
    local_symbol="AAPL",
    trading_class="NMS",
    long_name="APPLE INC",
    valid_exchanges="SMART,NASDAQ,ARCA,BATS,IEX",
)
FUTURE = ContractSpec(
    con_id=495512563,
    symbol="ES",
    sec_type="FUT",
    exchange="CME",
    currency="USD",
    local_symbol="ESZ6",
    trading_class="ES",
    multiplier="50",
    min_tick=Decimal("0.25"),
    last_trade_date="20261218",
    long_name="E-mini S&P 500",
    valid_exchanges="CME,QBALGO",
    time_zone_id="US/Central",
    trading_hours=ALWAYS,
    liquid_hours=ALWAYS,
    market_rule_ids="67",
)
FOREX = ContractSpec(
    con_id=12087792,
    symbol="EUR",
    sec_type="CASH",
    exchange="IDEALPRO",
    currency="USD",
    local_symbol="EUR.USD",
    trading_class="EUR.USD",
    min_tick=Decimal("0.00005"),
    long_name="European Monetary Union Euro",
    valid_exchanges="IDEALPRO",
    time_zone_id="US/Eastern",
    trading_hours=ALWAYS,
    liquid_hours=ALWAYS,
    min_size=Decimal("1"),
    size_increment=Decimal("1"),
    market_rule_ids="239",
)
CRYPTO = ContractSpec(
    con_id=479624278,
    symbol="BTC",
    sec_type="CRYPTO",
    exchange="PAXOS",
    currency="USD",
    local_symbol="BTC.USD",
    trading_class="BTC",
    min_tick=Decimal("0.25"),
    long_name="Bitcoin",
    valid_exchanges="PAXOS",
    order_types="LMT,MKT,STP,STPLMT",
    time_zone_id="US/Central",
    trading_hours=ALWAYS,
    liquid_hours=ALWAYS,
    min_size=Decimal("0.0001"),
    size_increment=Decimal("0.0001"),
    market_rule_ids="3128",
)
# IB spells option local symbols with padding spaces (OCC format).
OPTION = ContractSpec(
    con_id=702117631,
    symbol="AAPL",
    sec_type="OPT",
    exchange="SMART",
    currency="USD",
    local_symbol="AAPL  261218C00200000",
    trading_class="AAPL",
    multiplier="100",
    last_trade_date="20261218",
    strike=Decimal("200"),
    right="C",
    long_name="APPLE INC",
    valid_exchanges="SMART,CBOE,ISE,AMEX",
    market_rule_ids="32",
)

DEFAULT_CONTRACTS = (STOCK, FUTURE, FOREX, CRYPTO, OPTION)


@dataclass(frozen=True)
class ContractQuery:
    """The 12 contract fields ib_async sends (`Client.send`'s Contract format)."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: str
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str

    @classmethod
    def from_fields(cls, fields: list[str]) -> ContractQuery:
        con_id, symbol, sec_type, last, strike, right, mult, exch, prim, ccy, local, tc = fields
        return cls(
            int(con_id or 0), symbol, sec_type, last, strike, right, mult, exch, prim, ccy,
            local, tc,
        )  # fmt: skip

    def matches(self, spec: ContractSpec) -> bool:
        if self.con_id:
            return self.con_id == spec.con_id
        strike = Decimal(self.strike) if self.strike not in ("", "0", "0.0") else None
        exchanges = {spec.exchange, *spec.valid_exchanges.split(",")}
        checks = [
            not self.symbol or self.symbol == spec.symbol,
            not self.sec_type or self.sec_type == spec.sec_type,
            not self.last_trade_date or spec.last_trade_date.startswith(self.last_trade_date),
            strike is None or strike == spec.strike,
            not self.right or self.right[:1] == spec.right[:1],
            not self.multiplier or self.multiplier == spec.multiplier,
            not self.exchange or self.exchange in exchanges,
            not self.primary_exchange or self.primary_exchange == spec.primary_exchange,
            not self.currency or self.currency == spec.currency,
            not self.local_symbol or self.local_symbol == spec.local_symbol,
            not self.trading_class or self.trading_class == spec.trading_class,
        ]
        return all(checks)
