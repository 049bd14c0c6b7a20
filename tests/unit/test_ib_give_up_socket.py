"""A connect whose rebuild fails gives its socket up and reconnects
(`IBSession._give_up_socket`); a disconnect that raises there must not hide it.

ib_async's `IB.disconnect` shuts the socket's writing side (`write_eof`) before it
closes it. When the system refuses that shutdown (ENOTCONN: the peer reset the
connection), the disconnect raises half way: the socket stays open, TWS keeps its
client id, and ib_async's next connect tries to close it again first and raises the
same. `_give_up_socket` suppressed the error: every reconnect then failed with "cannot
reach TWS at ...: Transport endpoint is not connected" (TWS was there: the desk's own
socket was the trouble), nothing counted nor logged, for good. Now the failure is
counted (`disconnect_failed`), logged, said on the api link, and the socket closed at
once (as `_drop_socket` does since cb068de): the reconnect goes through.

The real ib_async client against the fake TWS; the refusal is the system's, put on the
client's socket transport (the fake cannot make the client's kernel refuse a shutdown),
as in tests/unit/test_ib_leftovers_disconnect.py. The rebuild fails on a request TWS
leaves unanswered (`request_timeout_s`)."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

from tests.fakes.tws import FakeTws
from tests.support.ib import desk
from tests.support.waiting import until


def refuse_shutdown(transport: Any) -> None:
    def write_eof() -> None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    transport.write_eof = write_eof


async def test_a_socket_given_up_after_a_failed_rebuild_is_closed_when_its_close_raises() -> None:
    async with FakeTws() as fake, desk(fake, connect=False) as d:
        broker = d.broker
        # ib_async's own executions request as it connects, then the rebuild's catch-up.
        fake.ignore_next("executions", times=2)
        connecting = asyncio.create_task(broker.connect())

        def rebuilding() -> bool:
            api = broker.health_state.links.get("api")
            return api is not None and "rebuilding what TWS holds" in api.detail

        await until(rebuilding, 5.0, "the rebuild")
        refuse_shutdown(broker.ib.client.conn.transport)
        await connecting  # the rebuild failed: its socket given up, a reconnect started
        api = broker.health_state.links["api"]
        assert "could not rebuild" in api.detail, api.detail
        assert "closing its socket failed (OSError" in api.detail, api.detail
        assert broker.health_state.errors["disconnect_failed"] == 1

        await until(lambda: fake.connects == 2, 5.0, "a reconnect after the failed close")
        await d.wait_live()
        assert len(fake.sessions) == 1  # the old socket is gone at TWS
        assert await broker.place(d.request(limit="148.00"))
