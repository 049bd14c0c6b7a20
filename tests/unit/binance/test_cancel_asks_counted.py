"""The background asks of a cancel Binance did not confirm (REST out), once their quick
asks give up, are counted under their own name: `cancel_unresolved`. They were counted
as `bad_report_unresolved`, the name for an executionReport this desk could not read,
though nothing was unreadable: the Health pane's errors line read
`1: bad_report_unresolved 1` for a REST outage. An unreadable report's recovery keeps
its name (`tests/unit/binance/test_binance_update_journaled.py`).
"""

from __future__ import annotations

from silvertine_tui.brokers import BrokerError
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import HealthEvent
from silvertine_tui.ui.model import ComponentHealth
from silvertine_tui.ui.widgets.health import broker_line
from tests.support.binance_broker import binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

S = OrderStatus


async def test_a_failed_cancels_asks_that_give_up_are_counted_as_cancel_unresolved() -> None:
    async with binance_session(balances={"USDT": "100000"}, request_timeout_s=0.3) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        s.broker.recover_tries = 2
        s.broker.recover_pause_s = (0.05, 0.05)
        await s.broker.place(o1())
        await until(lambda: s.broker._orders["o1"].status is S.NEW, 3.0, "NEW")
        s.fake.stop_answering_rest()
        try:
            await s.broker.cancel("o1")
        except BrokerError:
            pass
        else:
            raise AssertionError("the cancel went through with REST out")
        errors = s.broker.health_state.errors
        await until(lambda: errors["cancel_unresolved"] >= 1, 10.0, "the quick asks to give up")
        assert errors["bad_report_unresolved"] == 0
        assert errors["bad_report"] == 0

        # The Health pane's line of the broker: its errors under the honest name.
        await s.broker.publish_health()
        [*_, last] = [
            e.event
            for e in await s.bus.read(s.bus.layout.health)
            if isinstance(e.event, HealthEvent) and e.event.payload.component == s.broker.component
        ]
        assert isinstance(last, HealthEvent)
        said = last.payload
        health = ComponentHealth(said.component, said.state, said.message, dict(said.metrics), 0)
        line = broker_line("binance", health, ConnectionState.LIVE, None, 0.0)
        assert "cancel_unresolved 1" in line.errors, line.errors
        assert "bad_report" not in line.errors, line.errors
        s.fake.answer_rest()
        await until(lambda: s.broker._orders["o1"].status is S.NEW, 6.0, "o1 working again")
