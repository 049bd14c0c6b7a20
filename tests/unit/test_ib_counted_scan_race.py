"""Two asks of the journal for positions taken at once (`IBState._taken_since`: the
reconcile's executions loop and the inbox's live execution) share one `JournalScan`.
The second, asked about an older mark, started the scan again from there and wiped the
takes the first had read mid-way: the first then found no take after its own mark,
and the execution the position taken held was journaled as a fill again (the position
counted it twice). One scan at a time now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from silvertine_tui.brokers.ib.counted import CountedAhead, Owed
from silvertine_tui.brokers.ib.state import IBState
from silvertine_tui.bus.base import BusEntry
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.events import OrderUpdateEvent, Reconcile, ReconcileEvent, ReconcileKind

KEY = "AAPL.SMART"


def journal() -> list[BusEntry]:
    """Ten entries; the sixth, the venue's position of AAPL taken."""
    entries = []
    for i in range(1, 11):
        event: Any
        if i == 6:
            taken = Reconcile(
                kind=ReconcileKind.POSITION_MISMATCH, instrument=KEY, venue_quantity=Decimal(5)
            )
            event = ReconcileEvent.create("ib/DU1", taken)
        else:
            update = OrderUpdate(client_order_id=f"x{i}", status=OrderStatus.NEW)
            event = OrderUpdateEvent.create("ib/DU1", update)
        entries.append(BusEntry("exec", f"{i}-0", event))
    return entries


class PagedJournal:
    """A journal whose replay yields between entries, as Redis's between pages."""

    layout = SimpleNamespace(exec=lambda name, account: "exec")

    def __init__(self) -> None:
        self.entries = journal()

    async def replay(self, stream: str, after: str = "0-0") -> AsyncIterator[BusEntry]:
        key = tuple(int(p) for p in after.split("-"))
        for entry in self.entries:
            if tuple(int(p) for p in entry.id.split("-")) > key:
                await asyncio.sleep(0)
                yield entry


def adapter() -> Any:
    """What `_taken_since` reads of the adapter: its counts, bus, name and account."""
    return SimpleNamespace(
        counted=CountedAhead(), bus=PagedJournal(), name="ib", account="DU1", source="ib/DU1"
    )


async def test_a_scan_asked_about_an_older_mark_meanwhile_loses_no_take() -> None:
    assert await IBState._taken_since(adapter(), Owed(Decimal(5), KEY, "5-0"))  # alone
    shared = adapter()
    live = Owed(Decimal(5), KEY, "5-0")  # the live execution's status: after 5-0
    older = Owed(Decimal(5), "MSFT.SMART", "1-0")  # the reconcile's: an older mark

    async def later() -> bool:
        for _ in range(3):  # the first scan is mid-way
            await asyncio.sleep(0)
        return await IBState._taken_since(shared, older)

    first, second = await asyncio.gather(IBState._taken_since(shared, live), later())
    assert first, "the take at 6-0 (after 5-0) was read and then wiped"
    assert not second  # (no position of MSFT was taken)
