"""The Log's lines for orders placed on the account by another program (a trader's
review on the fake Binance): they named no side, quantity or symbol.

Our own orders' lines say what the order is (`FILLED BUY 0.015 BTCUSDT.BINANCE filled
0.015 avg 65,001.00 (…0001)`): the `Describer` names it from the order's request. An
order another program placed has none: its reports read `PARTIALLY_FILLED filled 0.004
avg 64,999 (app3)` and, filled before any reconcile adopted it, `FILLED filled 0.015 avg
65,001 (…0029)`, its average not even on the tick. The reconcile that adopts one
journals the venue's order (`Reconcile.venue_order`): the describer keeps it as the
order's request, and its line says it (`VENUE_ORDER_UNKNOWN app3 SELL 0.01
BTCUSDT.BINANCE @ 64,999.00 ...`); before that, the order's fills say its side and
symbol, and once FILLED its size. Its very first report (NEW, nothing filled, nothing
adopted yet) carries nothing more than the id, and reads as before.

The real app and session, python-binance against the fake; the other program is a
second client on the same account. And `silvertine replay`'s describer (no desk to ask)
over the journal's events alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from textual.pilot import Pilot

from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
    VenueOrder,
)
from silvertine_tui.events import (
    FillEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
)
from silvertine_tui.events.summary import Describer
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import binance_config, quick_library_timings

from .conftest import Desk, until

BTC = "BTCUSDT"
KEY = "BTCUSDT.BINANCE"
SOURCE = "binance/spot"


@asynccontextmanager
async def binance_desk(
    maker: Callable[..., Desk],
) -> AsyncIterator[tuple[Desk, FakeBinance, Pilot[None]]]:
    """The desk on the fake Binance (1 BTC and 10,000 USDT), LIVE; BTC at 64,999 /
    65,001."""
    with quick_library_timings():
        async with FakeBinance(
            symbols=[SymbolSpec(BTC, "BTC", "USDT")], balances={"USDT": "10000", "BTC": "1"}
        ) as fake:
            await fake.set_book(BTC, [("64998", "5")], [("65002", "5")])
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            settings = Settings(brokers=[paper, binance_config(fake, [BTC])], risk=RiskConfig())
            desk = maker(settings=settings)
            async with desk.app.run_test(size=(80, 24)) as pilot:
                await desk.start(pilot)
                view = desk.session.projection
                await until(
                    pilot,
                    "Binance LIVE",
                    lambda: view.broker_state("binance") is ConnectionState.LIVE,
                )
                await fake.set_book(BTC, [("64999", "5")], [("65001", "5")])
                await until(pilot, "the quote", lambda: KEY in desk.app.model.quotes)
                yield desk, fake, pilot
            await desk.session.close()


def lines_of(desk: Desk, ref: str) -> list[str]:
    """The Log's lines that end naming the order `ref` (`(app3)`, `(…0029)`)."""
    return [line.text for line in desk.app.model.log if line.text.endswith(ref)]


async def line_with(desk: Desk, pilot: Pilot[None], start: str, ref: str) -> str:
    """The Log's line for `ref` that starts with `start`, once it is there."""
    await until(
        pilot,
        f"a line {start}... {ref}",
        lambda: any(t.startswith(start) for t in lines_of(desk, ref)),
    )
    [found] = [t for t in lines_of(desk, ref) if t.startswith(start)]
    return found


async def test_an_order_placed_elsewhere_and_filled_at_once_reads_like_ours(make_desk) -> None:
    """A market buy by another program, filled at once: never adopted (it is not open
    at any reconcile); its FILLED line reads as our own market buy's."""
    async with binance_desk(make_desk) as (desk, fake, pilot):
        async with binance_client(fake) as other:
            await other.order_market_buy(
                symbol=BTC, quantity="0.015", newClientOrderId="app2000000000000029"
            )
        theirs = await line_with(desk, pilot, "FILLED ", "(…0029)")
        assert theirs == "FILLED BUY 0.015 BTCUSDT.BINANCE filled 0.015 avg 65,001.00 (…0029)"

        # Our own market buy of the same, for the comparison.
        own = OrderRequest(
            client_order_id="st000000000000000001",
            broker="binance",
            account="spot",
            instrument=KEY,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal("0.015"),
            tif=TimeInForce.IOC,
        )
        await desk.session.engine.submit(own)
        ours = await line_with(desk, pilot, "FILLED ", "(…0001)")
        assert ours.removesuffix("(…0001)") == theirs.removesuffix("(…0029)")


async def test_an_order_placed_elsewhere_names_itself_from_its_fills_then_its_adoption(
    make_desk,
) -> None:
    """A limit sell by another program that partly fills at once (the bid holds 0.004
    of its 0.01), then rests: adopted by the reconcile it asks for, filled later."""
    async with binance_desk(make_desk) as (desk, fake, pilot):
        await fake.set_book(BTC, [("64999", "0.004")], [("65001", "5")])
        async with binance_client(fake) as other:
            await other.order_limit_sell(
                symbol=BTC, quantity="0.01", price="64999", newClientOrderId="app3"
            )
        # Before any reconcile: its fill says the side and symbol (its size is not
        # known yet: nothing journaled says it).
        part = await line_with(desk, pilot, "PARTIALLY_FILLED ", "(app3)")
        assert part == "PARTIALLY_FILLED SELL BTCUSDT.BINANCE filled 0.004 avg 64,999.00 (app3)"
        oms = desk.session.engine.oms
        await until(pilot, "adopted", lambda: "app3" in oms.orders)
        adopted = await line_with(desk, pilot, "VENUE_ORDER_UNKNOWN app3", "")
        assert adopted == (
            "VENUE_ORDER_UNKNOWN app3 SELL 0.01 BTCUSDT.BINANCE @ 64,999.00 ours= "
            "venue=PARTIALLY_FILLED 0.004/0.01"
        )
        await fake.fill(fake.order_by_client_id("app3").order_id, price=Decimal("64999"))
        filled = await line_with(desk, pilot, "FILLED ", "(app3)")
        assert filled == (
            "FILLED SELL 0.01 BTCUSDT.BINANCE @ 64,999.00 filled 0.01 avg 64,999.00 (app3)"
        )


def replayed(events: list[object]) -> list[str]:
    """Each event's line as `silvertine replay` says it: one describer, the journal's
    events alone (no desk, no instruments to ask)."""
    describe = Describer(id_width=None)
    return [describe(event) for event in events]  # type: ignore[arg-type]


sides = st.sampled_from(list(Side))
amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(500), places=3)


@given(side=sides, quantity=amounts, price=amounts, part=st.integers(1, 99))
def test_replay_names_an_adopted_order_from_its_reconcile(
    side: Side, quantity: Decimal, price: Decimal, part: int
) -> None:
    """The journal of an order another program placed: its first report, the reconcile
    that adopted it (the venue's order), a later report. The later one says what the
    order is, as the adopted order's row does; before, `PARTIALLY_FILLED filled ...`."""
    filled = (quantity * part / 100).quantize(Decimal("0.00001"))
    venue = VenueOrder(
        client_order_id="app9",
        instrument=KEY,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=quantity,
        limit_price=price,
    )
    lines = replayed(
        [
            OrderUpdateEvent.create(
                SOURCE, OrderUpdate(client_order_id="app9", status=OrderStatus.NEW)
            ),
            ReconcileEvent.create(
                SOURCE,
                Reconcile(
                    kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                    instrument=KEY,
                    client_order_id="app9",
                    venue=f"NEW 0/{quantity}",
                    venue_order=venue,
                ),
            ),
            OrderUpdateEvent.create(
                SOURCE,
                OrderUpdate(
                    client_order_id="app9",
                    status=OrderStatus.PARTIALLY_FILLED,
                    filled_qty=filled or Decimal("0.00001"),
                    avg_price=price,
                ),
            ),
        ]
    )
    order = f"{side} {quantity.normalize():f} {KEY} @ {price.normalize():,f}"
    assert lines[0] == "NEW (app9)"  # nothing said it yet
    assert lines[1].startswith(f"VENUE_ORDER_UNKNOWN app9 {order} ours="), lines[1]
    assert lines[2].startswith(f"PARTIALLY_FILLED {order} filled "), lines[2]


@given(side=sides, quantity=amounts, price=amounts)
def test_replay_names_an_order_filled_elsewhere_from_its_fill(
    side: Side, quantity: Decimal, price: Decimal
) -> None:
    """Another program's order filled at once: its fill, then its FILLED report."""
    fill = Fill(
        exec_id="BTCUSDT-1",
        client_order_id="app8",
        broker="binance",
        account="spot",
        instrument=KEY,
        side=side,
        quantity=quantity,
        price=price,
    )
    done = OrderUpdate(
        client_order_id="app8", status=OrderStatus.FILLED, filled_qty=quantity, avg_price=price
    )
    lines = replayed([FillEvent.create(SOURCE, fill), OrderUpdateEvent.create(SOURCE, done)])
    assert lines[1] == (
        f"FILLED {side} {quantity.normalize():f} {KEY} filled {quantity.normalize():f}"
        f" avg {price.normalize():,f} (app8)"
    )
