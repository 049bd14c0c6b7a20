"""While Binance's 429 Retry-After holds REST back (the "rest" link DEGRADED, `held by
Binance's rate limit until ...`), the user-data stream still reports every order of the
account: the Orders pane's rows are known, not `?`.

Before: the projection read any order link not LIVE on a DEGRADED broker as "reports
unknown" (`DeskProjection.reports_unknown`): every working Binance row read `NEW?` and
the Balances pane its balances unconfirmed for the whole hold, though a fill made
during it was journaled at once from the stream. A broker now says which of its links
carry its reports (`Broker.report_links`; Binance: "user"), and only one of those down
leaves its rows unknown; its orders still cannot go out while "rest" is held (the
ticket's `order_path_down`, over `order_links`, is unchanged).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import RateLimited
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.projection import project
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

S = OrderStatus
DEGRADED, LIVE = ConnectionState.DEGRADED, ConnectionState.LIVE


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await session.broker.place(o1())
        await until(lambda: session.broker._orders["o1"].status is S.NEW, 5.0, "o1 working")
        yield session


async def test_rows_are_known_from_the_user_stream_while_a_429_holds_rest(s: Session) -> None:
    s.fake.throttle(requests=1, retry_after=3.0, ban=30)
    with pytest.raises(RateLimited):
        await s.broker.place(o1().model_copy(update={"client_order_id": "o2"}))
    await s.broker.publish_health()
    links = s.broker.health_state.links
    assert links["rest"].state is DEGRADED, links["rest"]
    assert links["user"].state is LIVE

    desk = await project(s.bus, [("binance", "spot")])
    assert desk.reports_unknown() == {"binance": ""}
    assert desk.balances_unconfirmed() == {}
    # Orders still cannot go out (the ticket refuses them, saying the hold).
    assert desk.order_path_down("binance").startswith("rest DEGRADED: held by Binance")

    # What makes the rows known: a fill during the hold is journaled from the stream.
    await s.fake.fill(s.fake.order_by_client_id("o1").order_id)
    await until(
        lambda: s.broker._orders["o1"].status is S.FILLED, 5.0, "the fill heard from the stream"
    )
    assert s.broker.rest.usage.backoff_s() > 0  # (still held)
    said = [
        e.payload.status
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]
    assert said[-1] is S.FILLED
    assert (await project(s.bus, [("binance", "spot")])).orders["o1"].order.filled_qty == D("1.0")


async def test_rows_are_unknown_when_the_user_stream_is_down(s: Session) -> None:
    """The rule still marks them when what reports them is down: the user-data link
    DEGRADED or lost (`report_links`)."""
    await s.broker.set_link("user", DEGRADED, "a drill")
    await s.broker.publish_health()
    desk = await project(s.bus, [("binance", "spot")])
    assert desk.reports_unknown() == {"binance": "DEGRADED"}
