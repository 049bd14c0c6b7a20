"""Market streams that go quiet on an open socket: subscriptions dead at the venue
while the connection's pings are still answered (docs: notes on "subscriptions
silently dead while heartbeats still arrive").

python-binance only logs its read timeouts, so such a socket stayed LIVE for good with
its quotes ageing. The silence watchdog: nothing at all on the socket for `silence_s`
and the link is DEGRADED "no market data for N s", the socket rebuilt (each book
resynced from a snapshot), and LIVE only once data flows again. Against the fake
Binance, the real python-binance socket manager running; a short `silence_s`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from itertools import count
from typing import Any

import pytest

from silvertine_tui.brokers.binance.market import SILENCE_S, MarketStreams
from silvertine_tui.domain import ConnectionState, MarketDataKind
from tests.fakes.binance import FakeBinance
from tests.unit.binance.test_binance_market import KEY, SYMBOL, Seen, fake_book

SILENCE = 0.4
LIVE, DEGRADED = ConnectionState.LIVE, ConnectionState.DEGRADED
QUIET = re.compile(r"^no market data for (\d+(?:\.\d)?) s; ")
_prices = count(1)
MakeStreams = Callable[..., MarketStreams]


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def make_streams(fake: FakeBinance, client: Any, seen: Seen) -> AsyncIterator[MakeStreams]:
    """MarketStreams on the fake (conftest's: the real python-binance client), reporting
    to `seen`, with a silence watchdog of `SILENCE` s."""
    made: list[MarketStreams] = []

    async def snapshot(symbol: str, limit: int) -> dict[str, Any]:
        answer: dict[str, Any] = await client.get_order_book(symbol=symbol, limit=limit)
        return answer

    def make(**overrides: Any) -> MarketStreams:
        options: dict[str, Any] = {
            "stream_url": fake.stream_url,
            "depth_snapshot": snapshot,
            "on_quote": seen.quote,
            "on_book": seen.book,
            "on_trade": seen.trade,
            "on_link": seen.link,
            "on_gap": seen.gap,
            "depth": 3,
            "retry_delays": (0.02, 0.05),
            "silence_s": SILENCE,
        }
        options.update(overrides)
        market = MarketStreams(client, **options)
        made.append(market)
        return market

    yield make
    for market in made:
        await market.close()


async def keep_quoting(venue: FakeBinance, ready: Callable[[], bool], within_s: float = 5) -> None:
    """The venue's book moves every 50 ms (a bookTicker each time) until `ready()`: a
    rebuilt socket gets its next quote whenever it is up, however late."""
    async with asyncio.timeout(within_s):
        while not ready():
            step = next(_prices)
            await venue.set_quote(SYMBOL, str(65000 + step), str(65001 + step))
            await asyncio.sleep(0.05)


def after_first(reported: Seen, state: ConnectionState) -> list[tuple[ConnectionState, str]]:
    """The link's reports from the first `state` on."""
    first = reported.states.index(state)
    return reported.links[first:]


def quiet_seconds(detail: str) -> float:
    found = QUIET.match(detail)
    assert found is not None, detail
    return float(found.group(1))


async def test_a_silent_socket_is_degraded_rebuilt_and_live_once_data_flows(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    market: MarketStreams = make_streams()
    await market.subscribe({KEY: SYMBOL}, (MarketDataKind.QUOTE, MarketDataKind.BOOK))
    await fake.wait_for_stream("btcusdt@bookTicker")
    await fake.set_quote(SYMBOL, "65000.00", "65000.10")
    await seen.until(lambda: bool(seen.quotes) and bool(seen.books))
    assert seen.states == [LIVE]
    snapshots = market.stats.snapshots
    # The subscriptions die at the venue; the socket stays open; the market moves on.
    assert fake.mute_streams() == 1
    await fake.set_quote(SYMBOL, "64990.00", "64990.10")
    quotes = len(seen.quotes)

    await seen.until(lambda: DEGRADED in seen.states)
    _, detail = seen.links[seen.states.index(DEGRADED)]
    assert quiet_seconds(detail) >= SILENCE
    assert "rebuilding the streams" in detail
    assert len(seen.quotes) == quotes  # the muted socket said nothing of the move
    # Rebuilt through the reconnect path: a new connection, the book resynced from a
    # snapshot (it holds the move the dead socket never told), still DEGRADED.
    await fake.wait_for_stream_connects(2)
    await seen.until(lambda: market.stats.snapshots > snapshots)
    await seen.until(lambda: seen.books[-1] == fake_book(fake))
    assert seen.books[-1].bids[0].price == D("64990.00")
    assert market.stats.silences >= 1
    assert market.stats.reconnects >= 1
    assert LIVE not in [s for s, _ in after_first(seen, DEGRADED)]
    assert market.link_state is DEGRADED

    # Data flows on the new socket: LIVE again.
    await keep_quoting(fake, lambda: market.link_state is LIVE)
    await seen.until(lambda: len(seen.quotes) > quotes)
    assert market.link_detail == "2 streams up"  # bookTicker and the book's diff stream
    assert seen.links[-1] == (LIVE, market.link_detail)
    assert all(s is DEGRADED for s, _ in after_first(seen, DEGRADED)[:-1])


async def test_a_socket_still_silent_after_its_rebuild_stays_degraded(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    """The reviewer's case (one quote, then nothing on an open socket): never LIVE again
    on a connect alone, the time without data growing in the link's detail."""
    market = make_streams()
    await market.subscribe({KEY: SYMBOL}, (MarketDataKind.QUOTE,))
    await fake.wait_for_stream("btcusdt@bookTicker")
    await fake.set_quote(SYMBOL, "65000.00", "65000.10")
    await seen.until(lambda: bool(seen.quotes))

    await seen.until(lambda: market.stats.silences >= 2, timeout=5.0)
    since = after_first(seen, DEGRADED)
    assert {s for s, _ in since} == {DEGRADED}
    rebuilding = [quiet_seconds(d) for _, d in since if "rebuilding" in d]
    assert len(rebuilding) >= 2
    assert rebuilding[1] > rebuilding[0]  # since the last data, not since the rebuild
    assert any(d.endswith("1 stream up again, waiting for data") for _, d in since)
    assert fake.stream_connects >= 2
    assert market.stats.reconnects >= 2


async def test_a_socket_with_data_stays_live(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    """Messages at 50 ms for 2.5 times the silence allowed (1 s here: twenty pauses
    between messages, so a busy test host cannot make one of them a silence): never
    DEGRADED, one connection."""
    market = make_streams(silence_s=1.0)
    await market.subscribe({KEY: SYMBOL}, (MarketDataKind.QUOTE,))
    await fake.wait_for_stream("btcusdt@bookTicker")
    loop = asyncio.get_running_loop()
    until = loop.time() + 2.5
    await keep_quoting(fake, lambda: loop.time() >= until)
    await seen.until(lambda: len(seen.quotes) >= 20)
    assert seen.states == [LIVE]
    assert (market.stats.silences, market.stats.reconnects, fake.stream_connects) == (0, 0, 1)


async def test_nothing_subscribed_after_a_silence_is_live(
    fake: FakeBinance, make_streams: MakeStreams, seen: Seen
) -> None:
    market = make_streams()
    await market.subscribe({KEY: SYMBOL}, (MarketDataKind.QUOTE,))
    await fake.wait_for_stream("btcusdt@bookTicker")
    await seen.until(lambda: DEGRADED in seen.states)
    await market.unsubscribe([KEY])
    await seen.until(lambda: seen.links[-1] == (LIVE, "no streams subscribed"))


def test_the_default_silence_is_half_a_minute() -> None:
    """About thirty of a traded symbol's once-a-second miniTicker pushes (docs:
    operations.md, Binance)."""
    assert SILENCE_S == 30.0
