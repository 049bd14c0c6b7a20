"""The watchdog drops the socket of a TWS that has not answered for
`unanswered_reconnect_s` and reconnects; a disconnect that fails must not leave the
desk believing it reconnects.

ib_async's `IB.disconnect` marks its client disconnected, then shuts the socket's
writing side (`write_eof`) before it closes it and emits `disconnectedEvent`. When the
system refuses that shutdown (ENOTCONN: the peer reset the connection), the
disconnect raises half way: no close, no disconnectedEvent. The watchdog suppressed
the error: no `_lost`, no reconnect, for good, while the api link read "reconnecting".

The real ib_async client against the fake TWS (its reader wedged as in
tests/integration/test_ib_hang.py); the refusal is the system's, put on the client's
socket transport (the fake cannot make the client's kernel refuse a shutdown)."""

from __future__ import annotations

import errno
from typing import Any

from silvertine_tui.domain import ConnectionState as L
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk
from tests.support.waiting import until

QUICK: dict[str, Any] = {"watchdog_s": 0.05, "answer_timeout_s": 0.2}


def refuse_shutdown(transport: Any) -> None:
    def write_eof() -> None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    transport.write_eof = write_eof


async def test_a_disconnect_that_fails_still_reconnects_and_is_said() -> None:
    async with FakeTws() as fake, desk(fake, unanswered_reconnect_s=0.6, **QUICK) as d:
        broker = d.broker
        await d.wait_live()
        assert fake.connects == 1
        refuse_shutdown(broker.ib.client.conn.transport)
        fake.wedge_readers()  # TWS's answers no longer reach ib_async
        await until(lambda: d.broker.health_state.links["api"].state is L.DEGRADED, 3.0, "api")
        await until(lambda: fake.connects == 2, 4.0, "a reconnect after the failed disconnect")
        await until(lambda: broker.state is L.LIVE, 5.0, "LIVE again")
        assert broker.health_state.errors["unanswered_reconnect"] == 1
        assert broker.health_state.errors["disconnect_failed"] == 1
        said = await d.said_in_log(LogLevel.ERROR)
        assert any(
            "dropping the socket failed (OSError" in s
            and "closed at once instead and is opened again" in s
            for s in said
        ), said
        assert await broker.place(d.request(limit="148.00"))
