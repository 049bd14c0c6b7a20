"""The Balances pane of a paper account in deficit, as a trader sees it (SVG snapshots in
snapshots/test_balances_deficit_snapshot/): the Available below zero in the theme's
error colour, and under the rows the words on what the venue takes while it is below
zero (tests/ui/test_balances_deficit.py has the setup: docs/paper-simulator.md, "A
deficit"). Regenerate with `pytest tests/ui/test_balances_deficit_snapshot.py -n 0
--snapshot-update` and look at every changed SVG."""

from __future__ import annotations

import pytest

from .conftest import Desk
from .test_balances_deficit import into_deficit, leveraged


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_balances_pane_in_deficit(snap_compare, make_desk, size: tuple[int, int]) -> None:
    """At 120x36 the pane in the grid; at 80x24 the pane alone (`5`)."""
    desk: Desk = make_desk(settings=leveraged())

    async def run_before(pilot) -> None:
        await into_deficit(desk, pilot)
        if size == (80, 24):
            await pilot.press("5")
        await desk.quiet(pilot)

    assert snap_compare(desk.app, terminal_size=size, run_before=run_before)
