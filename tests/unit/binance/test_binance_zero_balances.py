"""An asset that went to 0 while the desk did not hear of it is published as 0. Binance
lists only the assets it holds (`balances()` drops the zeros) and the catch-up added
zeros only for the configured instruments' assets: the desk kept showing the old
balance of any other asset (BNB spent on fees, or withdrawn, while the stream was down;
after a restart, the asset of an instrument only the journal holds)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from silvertine_tui.domain import Balance, ConnectionState
from silvertine_tui.events import BalanceEvent, EventBase
from tests.fakes.binance import SymbolSpec
from tests.support.binance_broker import Session, binance_session

D = Decimal


def last_balance(events: list[EventBase], asset: str) -> Balance | None:
    found = [e.payload for e in events if isinstance(e, BalanceEvent)]
    mine = [b for b in found if b.currency == asset]
    return mine[-1] if mine else None


async def settled(s: Session) -> list[EventBase]:
    await s.driver.settle()
    await asyncio.sleep(0.1)
    await s.driver.settle()
    return await s.events()


async def test_an_asset_gone_to_zero_while_away_is_published_as_zero() -> None:
    async with binance_session(balances={"USDT": "10000", "BNB": "5"}) as s:
        bnb = last_balance(await settled(s), "BNB")
        assert bnb is not None
        assert bnb.total == 5
        await s.driver.drop_connection()
        for _ in range(200):
            if not s.broker.user.subscribed:
                break
            await asyncio.sleep(0.02)
        await s.fake.deposit("BNB", "-5")  # withdrawn while the stream is down
        await s.driver.restore_connection()
        for _ in range(500):
            if s.broker.state is ConnectionState.LIVE and s.broker.health_state.reconnects:
                break
            await asyncio.sleep(0.02)
        assert s.broker.health_state.reconnects == 1
        bnb = last_balance(await settled(s), "BNB")
        assert bnb is not None
        assert (bnb.total, bnb.available) == (0, 0)


async def test_after_a_restart_the_asset_of_an_instrument_the_journal_holds_goes_to_zero() -> None:
    symbols = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("SOLUSDT", "SOL", "USDT"))
    # Configured: ETHUSDT only. The journal (of the run before) holds a SOL position;
    # the venue holds no SOL any more.
    async with binance_session(
        symbols=symbols, quoted=["ETHUSDT"], balances={"USDT": "10000"}
    ) as s:
        assert last_balance(await settled(s), "SOL") is None  # nothing said of it yet
        s.broker.journal_holds({"SOLUSDT.BINANCE"})
        report = await s.broker.reconcile(since_ns=s.broker.clock())
        assert not [b for b in report.balances if b.currency == "SOL"]
        sol = last_balance(await s.events(), "SOL")
        assert sol is not None
        assert sol.total == 0
