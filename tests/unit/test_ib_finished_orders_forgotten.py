"""The IB adapter keeps a record of every order it follows (ids, TWS's last status,
terms): those of finished orders leave memory beyond the last `finished_kept`, so a desk
that runs for weeks does not hold every order it ever placed, and orders that work are
never forgotten. Against the fake TWS with the real ib_async client."""

from __future__ import annotations

from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, new_bus, statuses

S = OrderStatus


def records(d: Desk) -> dict[str, int]:
    b = d.broker
    return {
        "ids": len(b.ids.by_coid),
        "last": len(b._last),
        "terms": len(b._terms),
    }


async def test_finished_orders_are_forgotten_beyond_the_kept_number() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        d.broker.ids.finished_kept = 3
        working = await d.broker.place(d.request(limit="140.00"))
        done = []
        for i in range(6):
            coid = await d.broker.place(d.request(limit=f"14{i}.50"))
            await d.broker.cancel(coid)
            done.append(coid)
        assert records(d) == {"ids": 4, "last": 4, "terms": 4}
        kept = set(d.broker.ids.by_coid)
        assert kept == {working, *done[-3:]}
        # TWS still lists the forgotten orders among its completed ones: a reconnect's
        # catch-up journals nothing for them, and the working order is followed on.
        journaled = len(await d.events())
        connects = fake.connects
        await fake.drop_connections()
        await d.wait(lambda: fake.connects > connects, "a reconnect")
        await d.wait_live()
        await d.broker.settle()
        assert len(await d.events()) == journaled
        assert records(d) == {"ids": 4, "last": 4, "terms": 4}
        await d.broker.cancel(working)
        events = await d.events()
        assert statuses(events, working)[-1] is S.CANCELED
        assert working in d.broker.ids.by_coid  # now the newest finished one
        assert len(d.broker.ids.by_coid) == 3


async def test_a_restart_keeps_only_the_last_finished_orders_of_the_journal() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                working = await before.broker.place(before.request(limit="140.00"))
                for i in range(5):
                    coid = await before.broker.place(before.request(limit=f"14{i}.50"))
                    await before.broker.cancel(coid)
                last = coid
            async with desk(fake, bus, connect=False) as d:
                d.broker.ids.finished_kept = 2
                await d.broker.connect()
                await d.wait_live()
                assert len(d.broker.ids.by_coid) == 3
                assert {working, last} <= set(d.broker.ids.by_coid)
                assert records(d)["last"] == 3
                await d.broker.cancel(working)  # still ours, found by its permId
                assert statuses(await d.events(), working)[-1] is S.CANCELED
        finally:
            await bus.close()
