"""The Health pane shows what TWS says is wrong that no link's state holds: 2110 (TWS
cannot reach IB's servers), a broken data farm (2103, 2105, 2157; docs/operations.md
promises "data farm problem"), messages from TWS that could not be read. The adapter
publishes each as a `notice:<name>` health metric while it lasts; the pane draws every
one under its broker from the projection alone, and drops it when it is gone. Before,
they went to metrics (`tws`, `farm`) no pane drew."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.ui.model import ComponentHealth
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, broker_line
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until

NOW_S = 1_767_364_200.0
BUS = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")
COMPONENT = "broker:ib/DU123456"
FARM = "data farm problem: usfarm (2103: Market data farm connection is broken:usfarm)"
TWS = "TWS cannot reach IB's servers (2110: Connectivity between Trader Workstation and server"


def pane_text(metrics: dict[str, str | int], *, silent: bool = False) -> str:
    health = ComponentHealth(COMPONENT, ConnectionState.LIVE, "", dict(metrics), 0)
    line = broker_line(
        "ib/DU123456",
        health,
        ConnectionState.LIVE,
        None,
        NOW_S,
        silent_since_ns=int((NOW_S - 30) * 1e9) if silent else None,
    )
    return HealthPane().render_text([line], BUS, TradingState.ACTIVE).plain


def test_each_notice_is_drawn_under_its_broker_tws_and_farms_first() -> None:
    text = pane_text(
        {
            "notice:unreadable": "1 message from TWS could not be read (...)",
            "notice:farm": FARM,
            "notice:tws": TWS,
            "farm": "data farm OK (2158: Sec-def data farm connection is OK:secdefnj)",
            "tws": "10197: No market data during competing live session",
            "link:api": "LIVE",
        }
    )
    lines = text.splitlines()
    at = {key: next(i for i, line in enumerate(lines) if key in line) for key in (TWS, FARM)}
    unreadable = next(i for i, line in enumerate(lines) if "could not be read" in line)
    api = next(i for i, line in enumerate(lines) if line.strip().startswith("api "))
    assert at[TWS] < at[FARM] < unreadable < api
    # The metrics before notices (a farm OK, the last account-wide notice) stay unsaid.
    assert "data farm OK" not in text
    assert "10197" not in text


def test_no_notice_no_line() -> None:
    assert pane_text({"link:api": "LIVE"}) == pane_text({"link:api": "LIVE", "notice:farm": ""})


@given(
    st.dictionaries(
        st.sampled_from(["tws", "farm", "unreadable", "other", "zz"]),
        st.text(alphabet="abcxyz:()", min_size=1, max_size=30),
        min_size=1,
    )
)
def test_every_notice_is_drawn_once_on_its_own_line(notices: dict[str, str]) -> None:
    metrics: dict[str, str | int] = {f"notice:{k}": f"<{k}: {v}>" for k, v in notices.items()}
    lines = pane_text(metrics).splitlines()
    drawn = [line.strip() for line in lines if line.startswith("  <")]
    order: list[str] = [k for k in ("tws", "farm") if k in notices]
    order += sorted(k for k in notices if k not in ("tws", "farm"))
    assert drawn == [f"<{k}: {notices[k]}>" for k in order]


async def test_tws_notices_reach_the_health_pane_and_leave_it(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(140, 40)) as pilot:
            await desk.start(pilot)
            model = desk.app.model
            await until(
                pilot,
                "IB LIVE",
                lambda: (
                    COMPONENT in model.health
                    and model.health[COMPONENT].state is ConnectionState.LIVE
                ),
            )
            health = desk.app.screen.query_one(HealthPane)

            def shown() -> str:
                return health.text.plain

            await fake.send_error(
                2110,
                "Connectivity between Trader Workstation and server is broken. It will be "
                "restored automatically.",
            )
            await fake.send_error(2103, "Market data farm connection is broken:usfarm")
            await until(pilot, "both notices", lambda: TWS in shown() and FARM in shown())
            assert "TWS reconnects its farms by itself" in shown()
            await fake.send_error(2104, "Market data farm connection is OK:usfarm")
            await until(pilot, "both gone", lambda: TWS not in shown() and FARM not in shown())
            assert "data farm" not in shown()
            await desk.session.close()
