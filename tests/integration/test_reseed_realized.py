"""Realized P&L and fees survive a re-seed of the paper journal, on a restart too.

Redis loses the journal under a running paper desk (a restart without persistence): the
paper venue writes it back from its memory (`PaperBroker.reseed_journal`), its working
orders, positions and balances. The fills from before the loss are gone from the
journal. A desk restarted from it with no snapshot written after the loss (the desk was
killed before its resync wrote one, or the snapshot stream was lost) rebuilt the
positions' quantity and average from the reconcile ("OPENING_POSITION") but lost their
realized P&L and fees: the Positions pane's Realized read 0 where the live desk showed
the figure. Now the re-seed's position reports are the standing of a position rebuilt
from it (`Portfolio.take_standing`), flat positions with P&L included, and the fills
after the re-seed trade from there, on the live desk and on a replay alike.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import Settings
from silvertine_tui.domain import (
    Book,
    BookLevel,
    Fill,
    OrderRequest,
    OrderType,
    Position,
    Side,
    TimeInForce,
    VenueOrder,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.portfolio import Portfolio
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    EventBase,
    FillEvent,
    PositionEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
)
from tests.support.redis_server import RedisServer, command
from tests.support.session_child import applied_all, until

BTC = "BTCUSDT.PAPER"
ETH = "ETHUSDT.PAPER"
CENT = Decimal("0.01")
PAPER_ALERT = "Paper venue re-seeded"


def hand_driven(url: str, prefix: str) -> Settings:
    """A paper desk whose market moves only when the test feeds it a book."""
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "paper",
                    "type": "paper",
                    "symbols": ["BTCUSDT", "ETHUSDT"],
                    "market": {"autorun": False},
                }
            ],
        }
    )


def paper(session: Session) -> PaperBroker:
    broker = session.brokers[0]
    assert isinstance(broker, PaperBroker)
    return broker


def market(side: Side, instrument: str, qty: str) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=instrument,
        side=side,
        order_type=OrderType.MARKET,
        quantity=Decimal(qty),
        tif=TimeInForce.IOC,
    )


def book(instrument: str, bid: Decimal, ask: Decimal) -> Book:
    size = Decimal("50")
    return Book(
        instrument=instrument,
        bids=(BookLevel(price=bid, size=size),),
        asks=(BookLevel(price=ask, size=size),),
    )


async def quote(session: Session, instrument: str, bid: Decimal) -> None:
    """The venue's market at `bid` / `bid + 0.01`, seen by the engine."""
    engine = session.engine
    broker = paper(session)
    mid = (bid + bid + CENT) / 2
    for _ in range(100):  # until the engine's reader, started just now, has it
        await broker.on_market_data(book(instrument, bid, bid + CENT))
        if engine.last_price(instrument) == mid:
            return
        await engine.wait_changed(0.1)
    raise AssertionError(f"the engine never saw {instrument} at {mid}")


async def trade(session: Session, side: Side, instrument: str, qty: str) -> None:
    engine = session.engine
    before = engine.position("paper", "main", instrument)
    moved = Decimal(qty) if side is Side.BUY else -Decimal(qty)
    await engine.submit(market(side, instrument, qty))
    await until(engine, lambda: engine.position("paper", "main", instrument) == before + moved)
    await paper(session).settle()
    await applied_all(session)


Figures = dict[str, object]


def figures(session: Session) -> Figures:
    """What the Positions and Balances panes show of the paper account (marks and
    unrealized P&L excluded: the market moves), as numbers."""
    portfolio = session.engine.portfolio
    return {
        "positions": {
            key[2]: (
                s.quantity,
                s.avg_price,
                s.realized_pnl,
                s.realized_gross,
                dict(s.fees),
                dict(s.fee_values),
            )
            for key, s in sorted(portfolio.positions.items())
        },
        "balances": {
            key[2]: (b.total, b.available, b.locked)
            for key, b in sorted(portfolio.balances.items())
        },
    }


def position(f: Figures, instrument: str) -> tuple[Decimal, Decimal | None, Decimal, Decimal]:
    """(quantity, average, realized net of fees, realized before fees) of `instrument`."""
    quantity, avg, realized, gross, _, _ = f["positions"][instrument]  # type: ignore[index]
    return quantity, avg, realized, gross


async def lose_the_journal(server: RedisServer, session: Session) -> None:
    """Redis restarts empty under the running desk; back once the desk has re-seeded
    the paper journal and written a snapshot after it."""
    await server.akill()
    await server.arestart()
    for _ in range(300):
        if [a for a in session.alerts if a.title == PAPER_ALERT] and await latest_snapshot(
            session.bus, "paper", "main"
        ):
            await applied_all(session)
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the desk did not re-seed the paper journal")


@pytest.mark.redis
@pytest.mark.parametrize("with_snapshot", [False, True], ids=["journal-only", "snapshot"])
async def test_a_restart_after_a_reseed_shows_the_realized_pnl_and_fees(
    key_prefix: str, with_snapshot: bool
) -> None:
    with RedisServer() as server:
        session = Session(hand_driven(server.url, key_prefix))
        await session.start()
        try:
            # BTC: 0.03 bought, 0.01 sold 5 higher (an open position with P&L and
            # fees); ETH: bought and all sold 2 higher (flat, with P&L and fees).
            await quote(session, BTC, Decimal("65000.00"))
            await trade(session, Side.BUY, BTC, "0.03")
            await quote(session, BTC, Decimal("65005.01"))
            await trade(session, Side.SELL, BTC, "0.01")
            await quote(session, ETH, Decimal("3500.00"))
            await trade(session, Side.BUY, ETH, "0.5")
            await quote(session, ETH, Decimal("3502.01"))
            await trade(session, Side.SELL, ETH, "0.5")
            before = figures(session)
            qty, avg, realized, gross = position(before, BTC)
            assert (qty, avg, gross) == (Decimal("0.02"), Decimal("65000.01"), Decimal("0.05"))
            assert realized < gross  # fees: 10 bps taker
            qty, avg, realized, gross = position(before, ETH)
            assert (qty, avg, gross) == (Decimal("0"), None, Decimal("1.000"))

            await lose_the_journal(server, session)
            assert session.bus.stats.data_loss_detected == 1
            # The desk that re-seeded shows what it showed.
            assert figures(session) == before
            assert session.reconcile_findings == []

            # A fill after the re-seed moves realized P&L from where it stood.
            await quote(session, BTC, Decimal("65010.01"))
            await trade(session, Side.SELL, BTC, "0.01")
            live = figures(session)
            qty, avg, realized, gross = position(live, BTC)
            assert (qty, avg) == (Decimal("0.01"), Decimal("65000.01"))
            assert gross == position(before, BTC)[3] + Decimal("0.1")
            assert live["positions"][ETH] == before["positions"][ETH]  # type: ignore[index]
        finally:
            await session.close()

        snap = session.bus.layout.snap("paper", "main")
        if not with_snapshot:
            # No snapshot written after the loss: the journal alone rebuilds the desk.
            await asyncio.to_thread(command, server.host, server.port, "DEL", snap)

        restarted = Session(hand_driven(server.url, key_prefix))
        await restarted.start()
        try:
            assert (await latest_snapshot(restarted.bus, "paper", "main") is not None) is (
                with_snapshot
            )
            await applied_all(restarted)
            assert figures(restarted) == live
            assert restarted.reconcile_findings == []
            assert restarted.engine.anomalies.total == 0

            # And the next fill moves it from there, as it would have on the live desk.
            await quote(restarted, BTC, Decimal("65020.01"))
            await trade(restarted, Side.SELL, BTC, "0.01")
            after = figures(restarted)
            qty, avg, realized, gross = position(after, BTC)
            assert (qty, avg) == (Decimal("0"), None)
            assert gross == position(live, BTC)[3] + Decimal("0.2")
            fee = Decimal("0.01") * Decimal("65020.01") * Decimal("0.001")
            assert realized == position(live, BTC)[2] + Decimal("0.2") - fee
        finally:
            await restarted.close()


# -- the portfolio's rule, event by event (no Redis) ---------------------------------------

SOURCE = "paper/main"
STANDING_TS = 2_000


def fill(exec_id: str, side: Side, qty: str, price: str, venue_ts_ns: int) -> FillEvent:
    return FillEvent.create(
        SOURCE,
        Fill(
            broker="paper",
            account="main",
            client_order_id=f"c-{exec_id}",
            exec_id=exec_id,
            instrument=BTC,
            side=side,
            quantity=Decimal(qty),
            price=Decimal(price),
            fee=Decimal("0.5"),
            fee_currency="USDT",
            liquidity="TAKER",
            venue_ts_ns=venue_ts_ns,
        ),
        ts=venue_ts_ns,
    )


def reseed_header() -> ReconcileEvent:
    return ReconcileEvent.create(
        SOURCE,
        Reconcile(kind=ReconcileKind.DATA_LOSS, ours="journal lost"),
        ts=STANDING_TS,
    )


def reseeded_order() -> ReconcileEvent:
    """A working order the re-seed writes back (a DATA_LOSS reconcile with its order)."""
    return ReconcileEvent.create(
        SOURCE,
        Reconcile(
            kind=ReconcileKind.DATA_LOSS,
            instrument=BTC,
            client_order_id="c-working",
            venue_order=VenueOrder(
                client_order_id="c-working",
                venue_order_id="P9",
                instrument=BTC,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Decimal("1"),
                limit_price=Decimal("90"),
            ),
        ),
        ts=STANDING_TS,
    )


def report(qty: str, avg: str | None, realized: str, fees: str) -> PositionEvent:
    """The venue's position report: realized P&L before fees, its fees apart."""
    return PositionEvent.create(
        SOURCE,
        Position(
            broker="paper",
            account="main",
            instrument=BTC,
            quantity=Decimal(qty),
            avg_price=None if avg is None else Decimal(avg),
            realized_pnl=Decimal(realized),
            currency="USDT",
            fees={"USDT": Decimal(fees)},
        ),
        ts=STANDING_TS,
    )


def portfolio(events: list[EventBase]) -> Portfolio:
    book = Portfolio()
    for event in events:
        book.apply(event)
    return book


def shown(book: Portfolio) -> tuple[Decimal, Decimal | None, Decimal, dict[str, Decimal]]:
    state = book.positions[("paper", "main", BTC)]
    return state.quantity, state.avg_price, state.realized_pnl, dict(state.fees)


def test_fills_lost_with_redis_and_journaled_again_are_not_counted_twice() -> None:
    """The live desk had read 2 bought @ 100 and 1 sold @ 110 when Redis lost the
    journal; the venue had also sold the last 1 @ 120 (F, journaled into the Redis that
    died, never read). The re-seed reports the position flat, 10 + 20 realized before
    1.5 fees. The reconcile that follows journals F again (a missed fill). Then G: 1
    bought @ 130 after the re-seed. The live desk and a desk rebuilt from the journal
    (the re-seed, F, G) show the same, F counted once."""
    before: list[EventBase] = [
        fill("e1", Side.BUY, "2", "100", 1_000),
        fill("e2", Side.SELL, "1", "110", 1_100),
    ]
    reseed: list[EventBase] = [
        reseed_header(),
        reseeded_order(),
        report("0", None, "30", "1.5"),
    ]
    after: list[EventBase] = [
        fill("e3", Side.SELL, "1", "120", 1_200),  # F: made before the re-seed's report
        fill("e4", Side.BUY, "1", "130", 3_000),  # G: made after it
    ]
    live = portfolio(before + reseed + after)
    rebuilt = portfolio(reseed + after)
    expected = (
        Decimal("1"),
        Decimal("130"),
        Decimal("30") - Decimal("2.0"),
        {"USDT": Decimal("2.0")},
    )
    assert shown(rebuilt) == expected
    assert shown(live) == expected
    assert rebuilt.fill_seen("paper", "main", "e3")
    assert rebuilt.last_fills[("paper", "main")][BTC].exec_id == "e4"
    # Nothing left for a fill to look at.
    assert not rebuilt.reseeds
    assert not live.reseeds


def test_a_desk_holding_the_reseeded_quantity_keeps_its_own_figures() -> None:
    """The desk that wrote the re-seed holds each position at the venue's quantity:
    built from the fills it applied, its figures stay (the venue's average is rounded
    to the tick + 4 places). A journal with no re-seed, or one re-seeded into an intact
    journal (an older build re-seeded on a lost health stream), replays as before: a
    position report outside a re-seed is the venue's, never the desk's position."""
    fills: list[EventBase] = [
        fill("e1", Side.BUY, "1", "100.01", 1_000),
        fill("e2", Side.BUY, "1", "100.02", 1_001),
        fill("e3", Side.BUY, "1", "100.02", 1_002),
        fill("e4", Side.SELL, "1", "101", 1_003),
    ]
    plain = portfolio(fills)
    held = shown(plain)
    assert held[1] == Decimal("300.05") / 3  # 28 digits: the venue says 100.016667
    venue_report = report("2", "100.016667", "0.983333", "2.0")
    assert shown(portfolio([*fills, venue_report])) == held
    kept = portfolio([*fills, reseed_header(), venue_report])
    assert shown(kept) == held
    # A position report after the account's next fill is the venue's again.
    later = portfolio(
        [*fills, reseed_header(), fill("e5", Side.SELL, "1", "101", 3_000), venue_report]
    )
    assert shown(later)[0] == Decimal("1")
