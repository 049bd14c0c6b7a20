"""The positions the IB adapter journals on a (re)connect are published each alone: one
that cannot be read (TWS sent an average cost that is no number) or whose publish
fails is counted and said, and every other position TWS holds is still journaled.

Before, `_publish_connect_positions` published them in one loop: the first that raised
ended it, the rest (already taken out of the held positions) were never journaled, and
the rebuild failed and reconnected over and over. Runs the real ib_async client against
the fake TWS."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, Position
from silvertine_tui.events import EventBase, LogLevel, PositionEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import desk
from tests.support.refusing_bus import RefusedWrites


def positions(events: list[EventBase]) -> list[Position]:
    return [e.payload for e in events if isinstance(e, PositionEvent)]


async def test_a_position_that_cannot_be_read_leaves_the_others_journaled() -> None:
    held: dict[int | str, tuple[str | Decimal, str | Decimal]] = {
        "AAPL": ("10", "NaN"),
        "ESZ6": ("2", "250000"),
        "EUR.USD": ("1000", "1.08"),
    }
    async with FakeTws(positions=held) as fake, desk(fake, symbols=["AAPL"]) as d:
        await d.broker.settle()
        assert d.broker.state is ConnectionState.LIVE
        journaled = {p.instrument: p.quantity for p in positions(await d.events())}
        assert "AAPL.SMART" not in journaled
        assert sorted(journaled.values()) == [Decimal(2), Decimal(1000)], journaled
        assert d.broker.health_state.errors.get("position_unread") == 1
        said = await d.said_in_log(LogLevel.ERROR)
        assert any("AAPL.SMART (10)" in s and "could not be read" in s for s in said), said
        # One connect: the rebuild did not fail over the position.
        assert fake.connects == 1


async def test_a_position_the_bus_refuses_leaves_the_others_journaled() -> None:
    held: dict[int | str, tuple[str | Decimal, str | Decimal]] = {
        "AAPL": ("10", "150.5"),
        "ESZ6": ("2", "250000"),
        "EUR.USD": ("1000", "1.08"),
    }
    async with FakeTws(positions=held) as fake, desk(fake, connect=False) as d:
        redis = RefusedWrites(
            d.bus,
            lambda e: isinstance(e, PositionEvent) and e.payload.instrument == "AAPL.SMART",
        )
        await d.broker.connect()
        await d.broker.settle()
        assert d.broker.state is ConnectionState.LIVE
        assert [e.payload.instrument for e in redis.refused] == ["AAPL.SMART"]
        journaled = [p.quantity for p in positions(await d.events())]
        assert sorted(journaled) == [Decimal(2), Decimal(1000)], journaled
        assert d.broker.health_state.errors.get("position_unpublished") == 1
        said = await d.said_in_log(LogLevel.ERROR)
        assert any("AAPL.SMART (10)" in s and "not journaled" in s for s in said), said
        assert fake.connects == 1
