"""The paper venue's journal is its only memory (`Broker.state_in_journal`): a snapshot
never lets it be trimmed by age (`recovery.write_snapshot`, `journal_kept_whole`).

Trimmed behind a snapshot like any other journal, a restart of the venue (which
replays its journal from the first entry, `paper.journal.restore_from_journal`) lost a
GTC order resting since before the cut and the position bought before it: the
reconcile then cancelled the order and took the venue's 0 over the desk's position.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, Side, TimeInForce
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.events import LogEvent, OrderRequestEvent
from tests.fakes.scripted_venue import ScriptedVenue, scripted_fill
from tests.unit.test_paper_restart import ETH, eth_book, limit, paper_config

DAY_MS = 86_400_000


async def test_a_snapshot_leaves_the_paper_journal_whole_and_a_restart_keeps_the_account() -> None:
    now = [1_767_625_200_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    stream = bus.layout.exec("paper", "main")
    first = PaperBroker(paper_config(), bus)
    engine = TradingEngine(bus, [first], RiskConfig())
    await first.connect()
    await engine.load_instruments()  # (as the session does once a broker connects)
    await first.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    # Day 0: a buy that fills at once (the position), and a GTC buy that rests.
    await first.place(limit("BUY1", Side.BUY, "1", "2010", TimeInForce.IOC))
    await first.place(limit("REST", Side.BUY, "2", "1900", TimeInForce.GTC))
    await first.settle()
    await replay_stream(engine, stream)
    held = first.venue.account.position_qty(ETH)
    currency = first.venue.instruments[ETH].quote_currency
    cash = first.venue.account.cash_state(currency)
    assert held == D(1)
    # Eight days later (retention 7 days) the desk snapshots: a journal of another
    # broker would be trimmed up to the entry the snapshot covers.
    now[0] += 8 * DAY_MS
    assert await write_snapshot(engine, "paper", "main")
    left = await bus.read(stream)
    assert (await bus.info(stream)).entries_added == len(left)  # type: ignore[union-attr]
    requests = [e.event.payload for e in left if isinstance(e.event, OrderRequestEvent)]
    assert [r.client_order_id for r in requests] == ["BUY1", "REST"]
    await first.close()

    # The restart: the venue rebuilds from its journal, the engine from the snapshot.
    second = PaperBroker(paper_config(), bus)
    again = TradingEngine(bus, [second], RiskConfig())
    await recover(again, [("paper", "main")])
    await second.connect()
    await again.load_instruments()
    resting = second.venue.order("REST")
    assert resting is not None
    assert resting.status is OrderStatus.NEW
    assert second.venue.account.position_qty(ETH) == held
    assert second.venue.account.cash_state(currency) == cash
    view = again.oms.get("REST")
    assert view is not None
    assert view.order.status is OrderStatus.NEW
    assert again.portfolio.position("paper", "main", ETH) == held
    assert await trimmed_said(bus) == []
    await second.close()
    await bus.close()


async def trimmed_said(bus: MemoryBus) -> list[str]:
    return [
        e.event.payload.message
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, LogEvent) and "journal lost its first" in e.event.payload.message
    ]


async def test_a_paper_journal_trimmed_anyway_is_said_on_restart() -> None:
    """An operator's XTRIM (or an older build's trim behind a snapshot) took the
    journal's first entries: the venue comes back without what they held, and the
    trader reads why in the Log, with how many entries went."""
    bus = MemoryBus()
    await bus.start()
    stream = bus.layout.exec("paper", "main")
    first = PaperBroker(paper_config(), bus)
    await first.connect()
    await first.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    await first.place(limit("REST", Side.BUY, "2", "1900", TimeInForce.GTC))
    await first.settle()
    await first.close()
    info = await bus.info(stream)
    assert info is not None
    removed = await bus.trim(stream, 2)
    assert removed > 0
    second = PaperBroker(paper_config(), bus)
    await second.connect()
    assert second.venue.order("REST") is None  # its request went with the trim
    said = await trimmed_said(bus)
    assert len(said) == 1
    assert f"lost its first {removed} entries" in said[0]
    await second.close()
    await bus.close()


async def test_a_journal_whose_venue_keeps_its_own_state_is_still_trimmed() -> None:
    """A real venue keeps its own account (the reconcile rebuilds from it): its
    journal is trimmed by age behind the snapshot as before."""
    now = [1_767_625_200_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    venue = ScriptedVenue.build(bus)
    assert not venue.state_in_journal
    stream = bus.layout.exec("scripted", "main")
    engine = TradingEngine(bus, [venue], RiskConfig())
    for n in (1, 2, 3):
        await bus.publish(scripted_fill(n))
        now[0] += 1
    await replay_stream(engine, stream)
    now[0] += 8 * DAY_MS
    assert await write_snapshot(engine, "scripted", "main")
    assert [e.event.payload.exec_id for e in await bus.read(stream)] == ["e3"]  # type: ignore[union-attr]
    await bus.close()
