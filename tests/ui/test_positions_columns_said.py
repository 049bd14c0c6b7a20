"""The Positions pane names each row's account once its Account column is gone, as the
Balances pane does (a trader's review at 120x36; docs/ui.md, "Columns that fit").

The Account column is the first to go in a narrow pane: at 120x36 it went as soon as
the rows held a few figures, and nothing said so. With two accounts holding the same
symbol (two paper brokers both list `BTCUSDT.PAPER`) the pane read two rows
`BTCUSDT.PAPER` of different sizes, with no word of whose each was: `x` on either
closed a position the trader could not name. The Balances pane, whose Account column
goes first too, names the broker in its currency cell with several accounts (`USD
ib`); the Positions pane now names it in its Symbol cell (`BTCUSDT.PAPER paper2`), and
says nothing more with one account, as the Balances pane."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import Book, BookLevel
from silvertine_tui.ui.widgets.positions import Positions

from .conftest import Desk, make_settings, market_buy

BTC = "BTCUSDT.PAPER"


def two_paper_accounts() -> Settings:
    """The test desk's paper broker beside a second one (`paper2/alt`): both list
    BTCUSDT.PAPER."""
    settings = make_settings(paper={"symbols": ["BTCUSDT", "ETHUSDT"]})
    second = PaperBrokerConfig(
        name="paper2",
        account="alt",
        seed=11,
        symbols=["BTCUSDT", "ETHUSDT"],
        market={"autorun": False},
        latency={"enabled": False},
    )
    return settings.model_copy(update={"brokers": [*settings.brokers, second]})


async def buy(desk: Desk, pilot: Pilot[None], coid: str, broker: str, account: str, qty: str):
    request = market_buy(coid, BTC, qty).model_copy(update={"broker": broker, "account": account})
    await desk.session.engine.submit(request)
    await desk.next_second(pilot)


async def quote(desk: Desk, pilot: Pilot[None], bid: str, ask: str) -> None:
    """BTC at `bid` / `ask` on both paper brokers."""
    book = Book(
        instrument=BTC,
        bids=(BookLevel(price=Decimal(bid), size=Decimal(5)),),
        asks=(BookLevel(price=Decimal(ask), size=Decimal(5)),),
    )
    for broker in desk.session.brokers:
        assert isinstance(broker, PaperBroker)
        await broker.on_market_data(book)
    await desk.next_second(pilot)


def symbols(positions: Positions) -> dict[str, str]:
    """Each row's Symbol cell, by row key (broker/account/instrument)."""
    return {key: positions.get_cell(key, "symbol").plain for key in positions.row_keys}


async def test_two_accounts_rows_say_whose_once_the_account_column_is_gone(make_desk) -> None:
    desk: Desk = make_desk(settings=two_paper_accounts())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await quote(desk, pilot, "64990.00", "65000.00")
        positions = desk.app.screen.query_one(Positions)
        await buy(desk, pilot, "st000000000000000701", "paper", "main", "0.012")
        # One account: the symbol alone, as the Balances pane's currency alone.
        assert symbols(positions) == {f"paper/main/{BTC}": BTC}
        await buy(desk, pilot, "st000000000000000702", "paper2", "alt", "1.23456")
        await quote(desk, pilot, "59990.00", "60000.00")  # the market falls: wide figures
        await desk.quiet(pilot)  # the columns a resize would choose
        engine = desk.session.engine
        assert engine.position("paper", "main", BTC) == Decimal("0.012")
        assert engine.position("paper2", "alt", BTC) == Decimal("1.23456")
        assert "account" not in positions.shown_columns, positions.shown_columns
        cells = symbols(positions)
        assert cells == {
            f"paper/main/{BTC}": f"{BTC} paper",
            f"paper2/alt/{BTC}": f"{BTC} paper2",
        }
        # ... as the terminal shows them: two rows that say whose each is.
        lines = [s.text for s in desk.app.screen._compositor.render_strips()]
        region = positions.content_region
        rows = [lines[y][region.x : region.right] for y in range(region.y, region.bottom)]
        assert sum(f" {BTC} paper " in row and " 0.012 " in row for row in rows) == 1, rows
        assert sum(f" {BTC} paper2 " in row and " 1.23456 " in row for row in rows) == 1, rows
        await desk.session.close()


@pytest.mark.parametrize("size", [(120, 36), (200, 50)], ids=["120x36", "200x50"])
async def test_one_account_says_nothing_more(make_desk, size: tuple[int, int]) -> None:
    """With one account the rows are as they were: the symbol alone, whether the
    Account column shows or not."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(market_buy("st000000000000000703", "ETHUSDT.PAPER", "1"))
        await desk.next_second(pilot)
        positions = desk.app.screen.query_one(Positions)
        assert symbols(positions) == {"paper/main/ETHUSDT.PAPER": "ETHUSDT.PAPER"}
        await desk.session.close()
