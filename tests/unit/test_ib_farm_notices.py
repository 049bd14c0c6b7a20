"""TWS's account-wide notices the trader must see: 2110 (TWS cannot reach IB's
servers) and a broken data farm (2103, 2105, 2157). Each is a health notice
(`notice:tws`, `notice:farm`, which the Health pane shows) while it lasts, logged and
said in the desk's Log once when it starts and once when it is over: a farm OK again
(2104, 2106, 2158), TWS back on IB (1101, 1102, a farm OK). Before, they went to
health metrics no pane drew (`farm`, `tws`), logged nowhere, and a broken farm was
never cleared by another farm's OK but overwritten by it. Against the fake TWS."""

from __future__ import annotations

import logging

import pytest

from silvertine_tui.brokers.ib import codes
from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk

L = ConnectionState
SERVER_BROKEN = 2110
MD_BROKEN = "Market data farm connection is broken:usfarm"
MD_OK = "Market data farm connection is OK:usfarm"
HMDS_BROKEN = "HMDS data farm connection is broken:ushmds"
HMDS_OK = "HMDS data farm connection is OK:ushmds"
SERVER = "Connectivity between Trader Workstation and server is broken. It will be restored automatically."  # noqa: E501


def extra(d: Desk, name: str) -> str | None:
    value = d.broker.health_state.extra.get(f"notice:{name}")
    return None if value is None else str(value)


async def published(d: Desk, name: str) -> str | None:
    """The notice as the last health event the broker published says it."""
    value = (await d.health())[-1].metrics.get(f"notice:{name}")
    return None if value is None else str(value)


def logged(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for r in caplog.records if r.getMessage() == name)


async def test_a_broken_farm_is_shown_until_it_is_ok_again_and_said_once_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeTws() as fake, desk(fake) as d:
        await d.broker.settle()
        assert extra(d, "farm") is None  # the connect's 2104/2106/2158: all OK
        await fake.send_error(2103, MD_BROKEN)
        await fake.send_error(2103, MD_BROKEN)  # TWS says it again: no news
        await fake.send_error(2105, HMDS_BROKEN)
        await d.broker.settle()
        shown = extra(d, "farm")
        assert shown is not None
        assert "data farm problem: usfarm (2103: Market data farm connection is broken" in shown
        assert "quotes may stop" in shown
        assert "ushmds (2105" in shown
        assert await published(d, "farm") == shown
        assert logged(caplog, "ib.farm_broken") == 2
        warned = [w for w in await d.said_in_log(LogLevel.WARNING) if "data farm problem" in w]
        assert len(warned) == 2
        # Another farm's OK does not clear it: the market data farm's does.
        await fake.send_error(2106, HMDS_OK)
        await d.broker.settle()
        shown = extra(d, "farm")
        assert shown is not None
        assert "usfarm" in shown
        assert "ushmds" not in shown
        await fake.send_error(2104, MD_OK)
        await d.broker.settle()
        assert extra(d, "farm") is None
        assert await published(d, "farm") is None
        assert logged(caplog, "ib.farm_ok") == 2
        said = await d.said_in_log(LogLevel.INFO)
        assert any("data farm usfarm is OK again (2104)" in s for s in said), said
        assert d.broker.state is L.LIVE  # information: nothing is refused
        assert "OK" in str(d.broker.health_state.extra["farm"])


@pytest.mark.parametrize("back", [(1102, "restored - data maintained"), (2104, MD_OK)])
async def test_2110_is_shown_until_tws_reaches_ibs_servers_again(
    caplog: pytest.LogCaptureFixture, back: tuple[int, str]
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeTws() as fake, desk(fake) as d:
        await fake.send_error(SERVER_BROKEN, SERVER)
        await fake.send_error(SERVER_BROKEN, SERVER)
        await d.broker.settle()
        shown = extra(d, "tws")
        assert shown is not None
        assert shown.startswith("TWS cannot reach IB's servers (2110: Connectivity between")
        assert await published(d, "tws") == shown
        assert logged(caplog, "ib.tws_server_broken") == 1
        # An order sent would not reach IB: the `ib` link is DEGRADED while it holds
        # (new orders refused: tests/unit/test_ib_leftovers_codes.py).
        assert d.broker.state is L.DEGRADED
        code, text = back
        await fake.send_error(code, text)
        await d.broker.settle()
        await d.wait_live()
        assert extra(d, "tws") is None
        assert await published(d, "tws") is None
        assert logged(caplog, "ib.tws_server_back") == 1
        said = await d.said_in_log(LogLevel.INFO)
        assert any(f"TWS reaches IB's servers again ({code})" in s for s in said), said


def test_each_farm_is_named_by_its_notice() -> None:
    assert codes.farm_of(2103, MD_BROKEN) == "usfarm"
    assert codes.farm_of(2157, "Sec-def data farm connection is broken:secdefnj") == "secdefnj"
    inactive = "Market data farm connection is inactive but should be available upon demand."
    assert codes.farm_of(2108, inactive + "usfarm.nj") == "usfarm.nj"
    assert codes.farm_of(2105, "broken") == "historical data farm"
