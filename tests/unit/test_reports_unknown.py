"""One rule for what the desk cannot confirm of a broker now (`reports_unknown`, which
the Orders pane's `NEW?` and the Balances pane's mark both read): a silent broker is
STALE, one DISCONNECTED or reconnecting (or DEGRADED with an order link down) names its
state, one heard and reporting is "", and the balances marked unconfirmed
(`balances_unconfirmed`) are those of the brokers it names that hold balances,
whatever the brokers' states, links and silences."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Balance, ConnectionState
from silvertine_tui.engine.projection import BrokerStatus, DeskProjection
from silvertine_tui.events import BalanceEvent

NAMES = ("binance", "ib", "paper")
STATES = tuple(ConnectionState)
link_states = st.sampled_from([s.value for s in STATES])
links = st.dictionaries(
    st.sampled_from(("rest", "user", "market", "tws")),
    st.tuples(link_states, st.sampled_from(("", "down: retrying"))),
    max_size=3,
)
statuses = st.builds(
    BrokerStatus,
    name=st.just(""),
    state=st.sampled_from(STATES),
    links=links,
    order_links=st.lists(st.sampled_from(("rest", "user", "tws")), unique=True).map(tuple),
)


@given(
    brokers=st.dictionaries(st.sampled_from(NAMES), statuses, max_size=3),
    silent=st.sets(st.sampled_from(NAMES), max_size=2),
    holding=st.sets(st.sampled_from(NAMES), max_size=3),
)
def test_the_projection_marks_by_the_orders_panes_rule(
    brokers: dict[str, BrokerStatus], silent: set[str], holding: set[str]
) -> None:
    desk = DeskProjection()
    for name, status in brokers.items():
        desk.brokers[name] = BrokerStatus(
            name, state=status.state, links=status.links, order_links=status.order_links
        )
    for name in silent:
        desk.set_silent(name, 1)
    for name in sorted(holding):
        desk.apply(
            BalanceEvent.create(
                f"{name}/main",
                Balance(broker=name, account="main", currency="USD", total=D(1), available=D(1)),
            )
        )

    unknown = desk.reports_unknown()
    assert set(unknown) == set(brokers) | silent
    assert desk.balances_unconfirmed() == {
        name: why for name, why in unknown.items() if why and name in holding
    }
    for name in silent:
        assert unknown[name] == "STALE"
    reporting = {ConnectionState.LIVE}
    for name, status in brokers.items():
        if name in silent:
            continue
        if status.state is ConnectionState.DEGRADED:
            expected = "DEGRADED" if desk.brokers[name].order_path_down() else ""
        else:
            expected = "" if status.state in reporting else status.state.value
        assert unknown[name] == expected, (name, status.state)
