"""With more than one account, each balance says whose it is, even in a pane too narrow
for the Account column: two accounts' USD must never look like one."""

from __future__ import annotations

from silvertine_tui.ui.widgets.balances import Balances

from .test_ticket_capabilities import spot_desk, start


def currency_cells(desk) -> list[str]:
    table = desk.app.screen.query_one(Balances)
    return sorted(cells[0].plain for cells in table._cells.values())


async def test_balances_of_two_accounts_name_their_broker(make_desk) -> None:
    desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        await desk.settle(pilot)
        cells = currency_cells(desk)
        assert cells, "no balances drawn"
        assert all(c.endswith((" paper", " spot")) for c in cells), cells
        assert {c.split()[1] for c in cells} == {"paper", "spot"}, cells
        await desk.session.close()


async def test_one_account_keeps_the_bare_currency(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.settle(pilot)
        assert currency_cells(desk) == ["USD", "USDT"]
        await desk.session.close()
