"""A holding the venue reports with no cost (Binance's balances have none) has a mark
but no average: its uPnL is unknown, and the Positions total says so as `no cost`. It
said `unmarked` beside the mark on screen, which reads as market data missing. The real
app and session, python-binance against the fake."""

from __future__ import annotations

from collections import Counter

from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.ui.widgets.positions import NO_COST, OLD, UNMARKED, Positions, lacking_text
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import DEFAULT_SYMBOLS, binance_config, quick_library_timings

from .conftest import Desk, until
from .test_pane_truth import footer

ETH = "ETHUSDT.BINANCE"
ROW = f"binance/spot/{ETH}"


async def test_a_holding_with_a_mark_and_no_cost_is_said_no_cost(make_desk) -> None:
    with quick_library_timings():
        async with FakeBinance(
            symbols=DEFAULT_SYMBOLS, balances={"USDT": "10000", "ETH": "2"}
        ) as fake:
            await fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
            config = binance_config(fake, ["ETHUSDT"])
            paper = PaperBrokerConfig(
                name="paper", account="main", seed=7, market={"autorun": False},
                latency={"enabled": False}, symbols=["AAPL"],
            )  # fmt: skip
            desk: Desk = make_desk(settings=Settings(brokers=[paper, config]))
            async with desk.app.run_test(size=(120, 36)) as pilot:
                await desk.start(pilot)
                model = desk.app.model
                component = "broker:binance/spot"
                await until(pilot, "Binance LIVE", lambda: component in model.health
                            and model.health[component].state is ConnectionState.LIVE)  # fmt: skip
                await fake.set_book("ETHUSDT", [("1999.5", "5")], [("2000.5", "5")])
                projection = desk.session.engine.projection
                await until(pilot, "the mark", lambda: projection.last_price(ETH) is not None)
                positions = desk.app.screen.query_one(Positions)

                def drawn() -> bool:
                    desk.clock.advance(1.0)  # marks are redrawn once a second
                    desk.app.frame()
                    return "2,000" in positions.get_cell(ROW, "mark").plain

                await until(pilot, "the row with its mark", drawn)
                assert positions.get_cell(ROW, "qty").plain == "2"
                assert positions.get_cell(ROW, "avg").plain == "-"
                assert positions.get_cell(ROW, "upl").plain == "-"
                await until(pilot, "the total", lambda: "USDT u" in footer(desk, "positions"))
                total = footer(desk, "positions")
                assert "(1 no cost)" in total, total
                assert "unmarked" not in total, total
    await desk.session.close()


def test_what_a_total_lacks_is_named_for_each_reason() -> None:
    assert lacking_text(Counter()) == ""
    assert lacking_text(Counter({NO_COST: 2})) == " (2 no cost)"
    assert lacking_text(Counter({OLD: 1, UNMARKED: 1, NO_COST: 1})) == (
        " (1 mark old, 1 unmarked, 1 no cost)"
    )
