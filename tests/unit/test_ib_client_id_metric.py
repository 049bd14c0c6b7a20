"""The IB api link's client ids are health metrics: the id in use (`client_id`), the
configured one (`client_id_configured`), the ids TWS answered 326 for
(`client_id_in_use:<id>`), the ids this desk's working orders are under
(`client_id_orders:<id>`) and the id it moves back to (`client_id_home`).

They were only in the English of the link's detail (`HOST:PORT client id N (paper
account); ...`), and the Health pane read them back from it with regexes. The pane now
reads the metrics; the detail is read only from a health event that carries none (one
an older build journaled or published). The real ib_async client against the fake TWS.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.ui.widgets.health import (
    BrokerLine,
    BusLine,
    HealthPane,
    LinkLine,
    client_id_text,
    link_lines,
)
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

L = ConnectionState
Metrics = Mapping[str, int | float | str | bool | None]

FALLBACK_TEXT = (
    "on client id 2, a fallback: client id 1 is in use at TWS (326); moving back to "
    "client id 1 once TWS frees it; orders placed under client id 1 cannot be modified "
    "or cancelled from here (cancel all, the kill switch or TWS still cancel them)"
)


def api_link(metrics: Metrics) -> LinkLine:
    [link] = [line for line in link_lines(metrics) if line.name == "api"]
    return link


def without_client_ids(metrics: Metrics) -> dict[str, int | float | str | bool | None]:
    """The health event as a build without the client id metrics published it."""
    return {k: v for k, v in metrics.items() if not k.startswith("client_id")}


async def published(d: Desk, client_id: int, also: str = "client_id") -> Metrics:
    """The newest health event's metrics on the bus once it says the api link LIVE on
    `client_id` (and has the metric `also`: the session updates them with the link's
    detail, while it waits to move back every `reconnect_delay_s` or so)."""

    async def newest() -> Metrics | None:
        events = await d.health()
        return events[-1].metrics if events else None

    found: Metrics | None = None
    for _ in range(500):
        await d.broker.publish_health()
        found = await newest()
        if (
            found is not None
            and found.get("link:api") == L.LIVE.value
            and found.get("client_id") == client_id
            and also in found
        ):
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"no LIVE api link on client id {client_id}: {found}")


def render_api(metrics: Metrics) -> str:
    broker = BrokerLine(
        name="ib/DU123456",
        state=L.LIVE,
        latency_ms=None,
        last_age_s=0.5,
        reconnects=1,
        rate_limit="-",
        message="",
        links=link_lines(metrics),
    )
    bus = BusLine(
        backend="memory",
        url="memory://",
        connected=True,
        state=L.LIVE,
        events_per_s=0,
        lag_ms=0,
        decode_errors=0,
        restarts=0,
        data_loss=0,
        message="",
    )
    text = HealthPane().render_text([broker], bus, TradingState.ACTIVE).plain
    return next(line for line in text.splitlines() if line.startswith("  api "))


async def test_a_326_fallback_publishes_the_client_ids_and_the_pane_reads_them() -> None:
    async with FakeTws() as fake:
        fake.reserve_client_id(1)  # another connection holds the desk's own id
        async with desk(fake, client_id_fallbacks=[2]) as d:
            metrics = await published(d, 2)
            assert metrics["client_id"] == 2
            assert metrics["client_id_configured"] == 1
            assert metrics["client_id_in_use:1"] is True
            assert metrics["client_id_home"] == 1
            assert not [k for k in metrics if k.startswith("client_id_orders:")]
            assert client_id_text(api_link(metrics)) == FALLBACK_TEXT
            assert render_api(metrics) == f"  api LIVE {FALLBACK_TEXT}"
            # The text comes from the metrics: a detail in no form the pane knows
            # still gives it.
            reworded = {**metrics, "link_detail:api": "up and running"}
            assert client_id_text(api_link(reworded)) == FALLBACK_TEXT
            # A health event without the metrics (an older build's): read from the
            # detail, as before.
            older = without_client_ids(metrics)
            assert api_link(older).client_ids is None
            assert client_id_text(api_link(older)) == FALLBACK_TEXT
            # ... and such an event with a detail of no known form says nothing more.
            assert client_id_text(api_link({**older, "link_detail:api": "up"})) == ""

            # Back on its own id once TWS frees it: the metrics say so, the pane
            # nothing more than `api LIVE`.
            fake.release_client_id(1)
            back = await published(d, 1)
            assert back["client_id_configured"] == 1
            assert not [k for k in back if k.startswith("client_id_in_use:")]
            assert "client_id_home" not in back
            assert client_id_text(api_link(back)) == ""
            assert render_api(back) == "  api LIVE"


async def test_orders_under_the_configured_id_are_named_by_metric() -> None:
    """An order of the desk works under client id 1; the socket drops and TWS holds
    id 1 a while: on client id 2 the metrics name id 1's orders, and the pane says
    they cannot be changed from here, as the detail does."""
    async with FakeTws() as fake, desk(fake, client_id_fallbacks=[2]) as d:
        await d.broker.place(d.request(limit="149.00"))
        start = await published(d, 1, also="client_id_orders:1")
        assert start["client_id_orders:1"] is True
        assert client_id_text(api_link(start)) == ""
        fake.reserve_client_id(1)
        await fake.drop_connections()
        metrics = await published(d, 2)
        assert metrics["client_id_orders:1"] is True
        assert "client_id_orders:2" not in metrics
        assert metrics["client_id_home"] == 1
        text = client_id_text(api_link(metrics))
        assert text.startswith("on client id 2, a fallback: client id 1 is in use"), text
        assert "orders of this desk under client id 1 cannot be changed from here" in text
        assert text == client_id_text(api_link(without_client_ids(metrics)))
        assert text == client_id_text(api_link({**metrics, "link_detail:api": "-"}))


ids = st.integers(min_value=0, max_value=6)


@given(
    current=ids,
    configured=ids,
    in_use=st.frozensets(ids, max_size=3),
    orders=st.frozensets(ids, max_size=3),
    home=st.none() | ids,
)
def test_the_pane_reads_from_the_metrics_what_the_detail_says(
    current: int,
    configured: int,
    in_use: frozenset[int],
    orders: frozenset[int],
    home: int | None,
) -> None:
    """Whatever the client ids, the pane's text from the adapter's metrics is its text
    from the adapter's detail of the same ids (the older build's way)."""
    from silvertine_tui.events.client_ids import ClientIds

    client_ids = ClientIds(current, configured, in_use, orders, home)
    detail = "; ".join([f"127.0.0.1:7497 client id {current} (paper account)", *client_ids.about()])
    metrics: dict[str, int | float | str | bool | None] = {
        "link:api": L.LIVE.value,
        "link_detail:api": detail,
        **client_ids.metrics(),
    }
    link = api_link(metrics)
    assert link.client_ids is not None
    assert link.client_ids.current == current
    assert client_id_text(link) == client_id_text(api_link(without_client_ids(metrics)))
