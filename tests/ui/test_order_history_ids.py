"""The order's history names the venue id it has now (a cancel-replace gives a new one)
and its fees per currency (issue 11)."""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table
from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.domain import Fill, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from silvertine_tui.ui.fees import FeeRate
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk


async def resting_buy(desk: Desk, pilot: Pilot[None], cid: str) -> str:
    """The desk started, a buy of 2 ETH at 3,400 working on it."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    await desk.session.engine.submit(
        OrderRequest(
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument="ETHUSDT.PAPER",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Decimal("2"),
            limit_price=Decimal("3400.00"),
        )
    )
    await desk.settle(pilot)
    return cid


async def test_history_shows_the_new_venue_id_and_fees_per_currency(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        engine = desk.session.engine
        cid = await resting_buy(desk, pilot, "st000000000000000301")
        view = engine.oms.get(cid)
        assert view is not None
        old = view.order.venue_order_id
        assert old
        # What a venue that modifies by cancel-replace reports, then a fill charged in
        # two currencies (the venue's own reports, as an adapter publishes them).
        source = "paper/main"
        bus = desk.session.bus
        for update in (
            OrderUpdate(client_order_id=cid, status=OrderStatus.PENDING_REPLACE),
            OrderUpdate(client_order_id=cid, status=OrderStatus.NEW, venue_order_id="R-2"),
        ):
            await bus.publish(OrderUpdateEvent.create(source, update, ts=desk.clock.ns()))
        for n, (fee, currency) in enumerate((("0.001", "ETH"), ("0.05", "BNB")), 1):
            fill = Fill(
                exec_id=f"R-2-{n}",
                client_order_id=cid,
                venue_order_id="R-2",
                broker="paper",
                account="main",
                instrument="ETHUSDT.PAPER",
                side=Side.BUY,
                quantity=Decimal("0.5"),
                price=Decimal("3400.00"),
                fee=Decimal(fee),
                fee_currency=currency,
            )
            await bus.publish(FillEvent.create(source, fill, ts=desk.clock.ns()))
        await desk.settle(pilot)
        assert view.order.venue_order_id == "R-2"
        assert view.order.fees == {"ETH": Decimal("0.001"), "BNB": Decimal("0.05")}
        desk.app.push_screen(OrderHistoryScreen(view))
        await desk.settle(pilot)
        ids = desk.app.screen.query_one("#history-ids", Static)
        assert str(ids.render()) == f"venue id R-2 (before: {old})  fees 0.05 BNB, 0.001 ETH"
        await desk.session.close()


def test_the_fee_estimate_learns_from_a_fee_in_another_asset_by_its_value() -> None:
    from silvertine_tui.bus import BusEntry
    from silvertine_tui.ui.model import FeedModel

    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)

    def fill(n: int, fee: str, currency: str, value: str | None) -> BusEntry:
        made = Fill(
            exec_id=f"x{n}",
            client_order_id="st1",
            broker="spot",
            account="main",
            instrument="ETHUSDT.SPOT",
            side=Side.BUY,
            quantity=Decimal("2"),
            price=Decimal("3000"),
            fee=Decimal(fee),
            fee_currency=currency,
            fee_value=None if value is None else Decimal(value),
        )
        event = FillEvent.create("spot/main", made)
        return BusEntry("silvertine:exec:spot:main", f"{1_767_364_200_000 + n}-0", event)

    model.ingest(fill(1, "0.01", "BNB", None))  # unpriced: says nothing
    assert model.fee_rates.rate("spot", "ETHUSDT.SPOT") is None
    model.ingest(fill(2, "0.0015", "ETH", "4.50"))  # 4.50 USDT on 6,000: 7.5 bps
    assert model.fee_rates.rate("spot", "ETHUSDT.SPOT") == FeeRate(Decimal("0.00075"))


async def test_a_venue_s_reason_of_megabytes_is_cut_in_the_history(make_desk) -> None:
    """A reason of 400,000 characters (a venue's, or data no check caught) went whole
    into the history's table: 1.9 s to open with the desk frozen (11 s for 2 MB), no
    quotes, no keys. It is cut as the Log pane cuts a line, saying how much more the
    journal holds."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        engine = desk.session.engine
        cid = await resting_buy(desk, pilot, "st000000000000000302")
        reason = ("venue says " + "x" * 9 + " ") * 20_000
        update = OrderUpdate(client_order_id=cid, status=OrderStatus.CANCELED, reason=reason)
        await desk.session.bus.publish(
            OrderUpdateEvent.create("paper/main", update, ts=desk.clock.ns())
        )
        await desk.settle(pilot)
        view = engine.oms.get(cid)
        assert view is not None
        desk.app.push_screen(OrderHistoryScreen(view))
        await desk.settle(pilot)
        table = desk.app.screen.query_one("#history-events", Static).content
        assert isinstance(table, Table)
        said = [str(cell) for column in table.columns for cell in column.cells]
        longest = max(said, key=len)
        assert len(longest) < 2_200, len(longest)
        assert "more characters in the journal" in longest
        await desk.session.close()
