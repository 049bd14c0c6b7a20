"""The desk with paper and IB side by side: the real app, the real session and engine,
IB through the real ib_async client against the fake TWS. An IB order is placed,
modified, filled and shown like a paper one; IB's health shows its links. A future
(ES) is not bought with cash: the ticket leaves its margin to IB, says IB's refusal,
estimates its fee per contract, and its P&L counts the multiplier."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.config import (
    IBBrokerConfig,
    PaperBrokerConfig,
    RiskConfig,
    RiskLimits,
    Settings,
)
from silvertine_tui.domain import (
    ConnectionState,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.tws import FakeTws
from tests.support.ib import FAST, paper_and_ib
from tests.unit.test_ib_adopted_orders import cancel_elsewhere
from tests.unit.test_ib_cancel_everything import place_elsewhere

from .conftest import Desk, until
from .test_trading_keys import open_buy_ticket, type_into


async def test_an_ib_order_trades_on_the_desk_beside_paper(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine
            model = desk.app.model
            component = "broker:ib/DU123456"
            await until(pilot, "IB LIVE in health", lambda: component in model.health
                        and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
            metrics = model.health[component].metrics
            assert metrics["link:api"] == "LIVE"
            assert metrics["link:ib"] == "LIVE"
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the IB quote", lambda: "AAPL.SMART" in model.quotes)
            await desk.step(pilot, 1)  # the paper market moves
            assert "AAPL.PAPER" in model.quotes
            coid = await engine.submit(
                OrderRequest(
                    broker="ib",
                    account=fake.account,
                    instrument="AAPL.SMART",
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=Decimal(10),
                    limit_price=Decimal("149.50"),
                )
            )

            def status() -> OrderStatus | None:
                view = engine.oms.get(coid)
                return view.order.status if view is not None else None

            await until(pilot, "NEW", lambda: status() is OrderStatus.NEW)
            await engine.modify(coid, limit_price=Decimal("149.60"))
            await until(pilot, "the modify", lambda: fake.orders[0].ticket.limit_price
                        == Decimal("149.60") and status() is OrderStatus.NEW)  # fmt: skip
            await fake.fill(fake.orders[0].order_id)
            await until(pilot, "FILLED", lambda: status() is OrderStatus.FILLED)
            await until(pilot, "the fill in the log", lambda: any(
                "AAPL.SMART" in line.text for line in model.fills))  # fmt: skip
            view = engine.oms.get(coid)
            assert view is not None
            assert view.order.filled_qty == 10
            assert view.order.fees == {"USD": Decimal("1")}
            assert view.order.venue_order_id == str(fake.orders[0].perm_id)
            assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == 10
            await desk.settle(pilot)
            await asyncio.sleep(0)
            await desk.session.close()


def ib_desk_settings(fake: FakeTws) -> Settings:
    """Paper beside IB, IB listing AAPL and the ES future. The notional limit is the
    trader's exposure limit (it counts a future's whole notional), raised for ES."""
    risk = RiskConfig(symbols={"ESZ6.CME": RiskLimits(max_notional=Decimal(1_000_000))})
    return paper_and_ib(fake, risk=risk, symbols=["AAPL", "ESZ6.CME"])


async def ib_quotes(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> None:
    """IB LIVE, ES and AAPL quoted, IB's cash on the desk."""
    model, view = desk.app.model, desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("ESZ6", "6027.25", "6027.50")
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the IB quotes", lambda: {"ESZ6.CME", "AAPL.SMART"} <= set(model.quotes))
    await until(pilot, "IB's cash", lambda: ("ib", fake.account, "USD") in view.balances)
    await desk.settle(pilot)


def ticket_text(ticket: Ticket, part: str) -> str:
    return str(ticket.query_one(f"#t-{part}", TextBlock).render())


async def test_a_future_goes_to_ib_whose_margin_check_decides_and_says_why(make_desk) -> None:
    """The trader drill on ES: 20,000 USD of cash, one ES contract of 301,375.00 USD of
    notional. The ticket does not refuse it for want of the notional in cash (it did:
    `need 301,676.38 USD (notional 301,375.00 + fee ~301.38) ... [buying_power]`); its
    preview says the margin is IB's to check; IB refuses it (201, not enough margin)
    and the ticket says so, readably. A stock beyond the cash is still refused."""
    async with FakeTws(cash={"USD": "20000"}, check_funds=True) as fake:
        desk: Desk = make_desk(settings=ib_desk_settings(fake))
        async with desk.app.run_test(size=(140, 40), notifications=True) as pilot:
            await desk.start(pilot)
            await ib_quotes(desk, pilot, fake)
            ticket = await open_buy_ticket(desk, pilot, "ESZ6.CME")
            assert ticket.draft().account == f"ib/{fake.account}"
            assert ticket.draft().limit_price == "6027.50"
            await type_into(pilot, "1")
            await desk.settle(pilot)
            assert ticket_text(ticket, "problems") == ""
            # Nothing of IB's futures filled yet: what a contract costs is not known.
            preview = "301,375.00 USD fee ? pos 0->1 margin: checked by ib"
            assert ticket_text(ticket, "preview") == preview
            await pilot.press("f9")
            await desk.settle(pilot)
            confirm = desk.app.screen
            assert isinstance(confirm, ConfirmScreen)
            assert preview in str(confirm.query_one("#dialog-body", Static).render())
            await pilot.press("y")
            await until(pilot, "IB's answer", lambda: bool(fake.rejected))
            await until(pilot, "the rejection on the ticket",
                        lambda: ticket_text(ticket, "status") == "REJECTED: why below")  # fmt: skip
            said = ticket_text(ticket, "problems")
            assert said.startswith("insufficient funds or margin at IB (201: Order rejected")
            assert "MUST EXCEED THE INITIAL MARGIN [301375.00 USD]" in said
            assert said.endswith("; reduce the size [InsufficientFunds]")
            # The ticket's answer, with IB's reason: one toast, the journal's REJECTED
            # a Log line (tests/ui/test_one_toast_per_reject.py).
            await until(pilot, "the toast", lambda: len(desk.app._notifications) == 1)
            await desk.settle(pilot)
            toasts = {n.title: n.message for n in desk.app._notifications}
            assert sorted(toasts) == ["Order not placed"]
            assert all("(201: Order rejected" in message for message in toasts.values())

            # A stock is bought with cash: beyond it, refused before anything is sent.
            await pilot.press("escape")
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            await type_into(pilot, "200")
            await desk.settle(pilot)
            assert ticket_text(ticket, "problems") == (
                "Qty: need 30,010.00 USD (notional 30,010.00 + fee not known yet), "
                "available 20,000.00 USD: at most 133 at limit price [buying_power]"
            )
            assert "margin" not in ticket_text(ticket, "preview")
            await desk.settle(pilot)
            await asyncio.sleep(0)
            await desk.session.close()


async def filled_buy(desk: Desk, pilot: Pilot[None], key: str, qty: str, price: str) -> Order:
    """A marketable limit buy at IB, sent by the engine, until FILLED."""
    engine = desk.session.engine
    request = OrderRequest(
        broker="ib",
        account="DU123456",
        instrument=key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(qty),
        limit_price=Decimal(price),
    )
    coid = await engine.submit(request)

    def order() -> Order | None:
        view = engine.oms.get(coid)
        return view.order if view is not None else None

    await until(pilot, f"{key} FILLED", lambda: (o := order()) is not None
                and o.status is OrderStatus.FILLED and bool(o.fees))  # fmt: skip
    done = order()
    assert done is not None
    return done


async def test_a_futures_fee_is_estimated_per_contract_and_its_pnl_has_the_multiplier(
    make_desk,
) -> None:
    """IB charges a share and a contract per unit. After a stock's fill (100 AAPL, 1
    USD) the ticket took its rate of the notional for ES too (20.08 USD a contract;
    with a dearer stock fill or the 0.1% default, hundreds); a share's fee says nothing
    of a contract's, so until a future fills the fee is not known. Two ES contracts
    filled for 4.50 USD: 2.25 a contract, times the contracts on the ticket. The
    position's unrealized P&L counts 50 USD a point."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=ib_desk_settings(fake))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            await ib_quotes(desk, pilot, fake)
            stock = await filled_buy(desk, pilot, "AAPL.SMART", "100", "150.05")
            assert stock.fees == {"USD": Decimal("1")}  # IB's minimum: 0.01 a share here
            await desk.settle(pilot)
            ticket = await open_buy_ticket(desk, pilot, "ESZ6.CME")
            await type_into(pilot, "1")
            await desk.settle(pilot)
            assert ticket_text(ticket, "preview") == (
                "301,375.00 USD fee ? pos 0->1 margin: checked by ib"
            )
            await pilot.press("escape")

            future = await filled_buy(desk, pilot, "ESZ6.CME", "2", "6027.50")
            assert future.fees == {"USD": Decimal("4.50")}
            await fake.set_quote("ESZ6", "6030.00", "6030.50")
            await until(pilot, "the new mark", lambda: desk.session.projection.last_price(
                "ESZ6.CME") == Decimal("6030.25"))  # fmt: skip
            await desk.next_second(pilot)

            ticket = await open_buy_ticket(desk, pilot, "ESZ6.CME")
            await type_into(pilot, "1")
            await desk.settle(pilot)
            assert ticket_text(ticket, "preview") == (
                "301,525.00 USD fee~2.25 pos 2->3 margin: checked by ib"
            )
            await type_into(pilot, "0")  # 10 contracts
            assert ticket_text(ticket, "preview") == (
                "3,015,250.00 USD fee~22.50 pos 2->12 margin: checked by ib"
            )
            # The stock keeps its own fee per share.
            await pilot.press("escape")
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            await type_into(pilot, "200")
            await desk.settle(pilot)
            assert ticket_text(ticket, "preview") == "30,010.00 USD fee~2.00 pos 100->300"

            # 2 contracts, 2.75 points up, 50 USD a point.
            projection = desk.session.projection
            [state] = [s for s in projection.portfolio.positions.values()
                       if s.instrument == "ESZ6.CME"]  # fmt: skip
            assert (state.quantity, state.avg_price) == (2, Decimal("6027.50"))
            assert projection.unrealized(state) == Decimal("275.00")
            await pilot.press("escape")
            await desk.next_second(pilot)
            positions = desk.app.screen.query_one(Positions)
            key = f"ib/{fake.account}/ESZ6.CME"
            shown = {c: positions.get_cell(key, c).plain for c in ("qty", "avg", "mark", "upl")}
            assert shown == {"qty": "2", "avg": "6,027.50", "mark": "6,030.25", "upl": "+275.00"}
            await desk.session.close()


async def test_an_order_another_program_placed_is_followed_and_its_cancel_said_at_once(
    make_desk,
) -> None:
    """The drive that found it: an order another program placed (client id 9) is
    adopted when the desk starts. Cancelling it from the Orders pane says at once who
    placed it and what reaches it; once that program cancels it, the desk shows it
    CANCELED (TWS tells this client nothing of it: the adapter asks while it works)."""
    async with FakeTws() as fake:
        perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        paper = PaperBrokerConfig(
            name="paper", account="main", seed=7, market={"autorun": False},
            latency={"enabled": False}, symbols=["AAPL"],
        )  # fmt: skip
        ib = IBBrokerConfig(
            name="ib", account=fake.account, port=fake.port, symbols=["AAPL"], client_id=7,
            **{**FAST, "other_clients_poll_s": 0.05},
        )  # fmt: skip
        desk: Desk = make_desk(settings=Settings(brokers=[paper, ib]))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            engine = desk.session.engine

            def status() -> OrderStatus | None:
                view = engine.oms.get("other-program")
                return view.order.status if view is not None else None

            await until(pilot, "the adopted order", lambda: status() is OrderStatus.NEW)
            await desk.settle(pilot)
            blotter = desk.app.screen.query_one(Blotter)
            assert blotter.row_keys == ["other-program"]
            await pilot.press("escape", "3", "home", "c")
            await until(pilot, "the cancel's answer", lambda: any(
                n.title == "Cancel failed" for n in desk.app._notifications))  # fmt: skip
            [said] = [n.message for n in desk.app._notifications if n.title == "Cancel failed"]
            assert "placed by client id 9" in said
            assert "cancel it in TWS or from client id 9" in said
            assert "kill switch" in said
            assert status() is OrderStatus.NEW
            await cancel_elsewhere(fake, 9, perm)
            await until(pilot, "CANCELED on the desk", lambda: status() is OrderStatus.CANCELED)
            await desk.settle(pilot)
            assert blotter.row_keys == []  # no longer among the working orders
            await asyncio.sleep(0)
            await desk.session.close()


async def test_a_fill_ib_corrects_is_toasted_and_the_desk_shows_the_corrected_price(
    make_desk,
) -> None:
    """IB corrects the price of a fill the desk shows (100 AAPL @ 150.05 -> 150.03): a
    warning toast says so, and the order and the Positions pane carry the new price."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=ib_desk_settings(fake))
        async with desk.app.run_test(size=(140, 40), notifications=True) as pilot:
            await desk.start(pilot)
            await ib_quotes(desk, pilot, fake)
            done = await filled_buy(desk, pilot, "AAPL.SMART", "100", "150.05")
            [execution] = fake.exchange.executions
            await fake.correct_execution(execution, price="150.03")
            title = "Fill corrected by the venue"

            def toasts() -> list[str]:
                return [n.message for n in desk.app._notifications if n.title == title]

            await until(pilot, "the toast", lambda: bool(toasts()))
            [said] = toasts()
            assert said == "BUY 100 AAPL.SMART @ 150.03, was 100 @ 150.05"
            assert not [n for n in desk.app._notifications if n.severity == "error"]
            view = desk.session.engine.oms.get(done.client_order_id)
            assert view is not None
            assert (view.order.filled_qty, view.order.avg_price) == (100, Decimal("150.03"))
            await desk.next_second(pilot)
            positions = desk.app.screen.query_one(Positions)
            key = f"ib/{fake.account}/AAPL.SMART"
            assert positions.get_cell(key, "avg").plain == "150.03"
            assert positions.get_cell(key, "qty").plain == "100"
            await desk.session.close()
