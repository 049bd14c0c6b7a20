"""What the IB adapter says of an order in the desk's Log names the order as the desk
shows it everywhere else: its short id (the Orders pane's Id column, the ticket's
`sent`: the last eight characters), once. The 20-character client order id took most
of a toast at 80x24 (`Error: ib/DU123456 order stmxcghs0537elti9o9s: TWS error 201
...`), and a message that named the order itself named it twice (`order <id>: cancel
of <id> came too late`). The Python log keeps the full id in its fields.

The error is one TWS sends of a working order (a 201 after it was taken), against the
fake TWS with the real ib_async client.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.ib.orders import said_of
from silvertine_tui.domain import OrderStatus
from silvertine_tui.domain.ids import short_id
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses

S = OrderStatus
SOURCE = "ib/DU123456"

# Client order ids as the desk makes them (lower case and digits); the words around
# them share none of their characters, so no id can be made up of the words.
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=24)
words = st.text(alphabet="ABCDEFGHXYZ :;,.()-", max_size=60)


@given(ids, words.filter(bool), words)
def test_the_log_line_names_the_order_once_by_its_short_id(coid: str, a: str, b: str) -> None:
    short = coid[-8:]
    head = f"{SOURCE} order {short}: "
    assert short_id(coid) == short
    assert said_of(SOURCE, coid, a) == head + a
    assert said_of(SOURCE, coid, f"{a}{coid}{b}") == head + a + short + b
    assert said_of(SOURCE, coid, f"{coid}: {a}") == head + a
    assert said_of(SOURCE, coid, f"cancel of {coid} came too late: {a}") == (
        f"{head}cancel came too late: {a}"
    )
    assert said_of(SOURCE, coid, f"the modify of {coid}: {a} {coid}") == (
        f"{head}the modify: {a} {short}"
    )


def test_a_too_late_cancel_is_said_came_too_late_once() -> None:
    coid = "stmxcghxnu72v4pia8ru"
    said = (
        f"cancel of {coid} came too late: the order was already FILLED at IB (5 filled; "
        "the fill stands); nothing is working there for it"
    )
    assert said_of(SOURCE, coid, said) == (
        f"{SOURCE} order v4pia8ru: cancel came too late: the order was already FILLED at "
        "IB (5 filled; the fill stands); nothing is working there for it"
    )


async def test_tws_s_error_on_a_working_order_names_it_by_its_short_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reason = "Order rejected - reason:The contract is not available for short sale"
    caplog.set_level(logging.INFO, logger="silvertine_tui.brokers.ib")
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.cancel_by_venue(order.order_id, code=201, reason=reason)
        await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        [line] = [e for e in await d.said_in_log(LogLevel.ERROR) if "201" in e]
        assert line.startswith(f"{SOURCE} order {coid[-8:]}: TWS error 201: ")
        assert "short sale" in line
        assert coid not in line
        [record] = [r for r in caplog.records if r.getMessage() == "ib.order_message"]
        assert getattr(record, "client_order_id", None) == coid
