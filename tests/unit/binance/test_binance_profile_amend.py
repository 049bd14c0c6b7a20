"""The broker profile (capabilities and instruments: the desk's copy, which the modify
dialog reads to say whether a smaller quantity is amended in place) follows a symbol
Binance is asked about after the profile was built (`BinanceBroker._amends_on`: its
`amendAllowed`), not only at the next connect (`TradingEngine.republish_profiles`,
run on every health entry the engine reads). Before, the adapter amended on the
symbol and the dialog said "placed anew" until a reconnect rebuilt the profile."""

from __future__ import annotations

from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import BrokerProfileEvent
from tests.fakes.binance import SymbolSpec
from tests.support.binance_broker import Session, binance_session

ETH = SymbolSpec("ETHUSDT", "ETH", "USDT")  # configured, no amendAllowed
BTC = SymbolSpec("BTCUSDT", "BTC", "USDT", amend_allowed=True)  # not configured
EVERY = 1_000_000  # (the periodic republish never due here)


async def last_profile_on_bus(s: Session) -> frozenset[str] | None:
    profiles = [
        e.event.payload
        for e in await s.bus.read(s.bus.layout.health)
        if isinstance(e.event, BrokerProfileEvent)
    ]
    return profiles[-1].capabilities.amend_quantity_down_on


async def test_a_symbol_looked_up_later_reaches_the_desks_profile() -> None:
    async with binance_session(symbols=(ETH, BTC), quoted=["ETHUSDT"]) as s:
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        caps = engine.projection.capabilities("binance")
        assert caps is not None
        assert caps.amend_quantity_down_on == frozenset()
        published = len(await s.bus.read(s.bus.layout.health))
        await engine.republish_profiles(EVERY)  # (nothing moved: nothing published)
        profiles_now = (await s.bus.read(s.bus.layout.health))[published:]
        assert not any(isinstance(e.event, BrokerProfileEvent) for e in profiles_now)
        # A symbol the desk does not quote, looked up (an order adopted on it, a lookup
        # after Binance said its market closed): Binance allows amends on it.
        await s.broker.instrument("BTCUSDT.BINANCE")
        assert s.broker.capabilities.amend_quantity_down_on == {"BTCUSDT.BINANCE"}
        await engine.republish_profiles(EVERY)  # (the next health entry read)
        caps = engine.projection.capabilities("binance")
        assert caps is not None
        assert caps.amend_quantity_down_on == {"BTCUSDT.BINANCE"}
        assert engine.profiles["binance"].capabilities.amend_quantity_down_on == {"BTCUSDT.BINANCE"}
        assert await last_profile_on_bus(s) == {"BTCUSDT.BINANCE"}
        # The instruments the profile carried stay as they were.
        assert [i.key for i in engine.profiles["binance"].instruments] == ["ETHUSDT.BINANCE"]
