"""A cancel Binance's 418 ban refused is said in the same words by the adapter (the
error a single cancel raises: `BinanceBroker._banned_said`) and by the engine (each
order's line in the cancel all / kill switch report: `engine.cancels._barred_why`), from
one source (`brokers.errors.ban_said`): NOT sent, until when, nothing sent by itself
after, the order working, cancel it again then or in the venue's web site or app.

Before, each wrote its own: "was NOT sent: Binance has banned this IP ... and nothing
goes to Binance before then. The order is still working. This desk does not send it by
itself when the ban ends: cancel again after ..." beside "its cancel was NOT sent: the
venue bans binance/spot's IP ... the order works: cancel it again after ..., or at the
venue's own web site or app"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers.binance.errors import Banned
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import cancels
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

UNTIL = re.compile(r"\d\d:\d\d:\d\d UTC \(\d+ s more\)")
AFTER = re.compile(r"after \d\d:\d\d:\d\d UTC")


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await session.broker.place(o1())
        await until(
            lambda: session.broker._orders["o1"].status is OrderStatus.NEW, 5.0, "o1 working"
        )
        yield session


def words(text: str) -> str:
    """`text` with its deadline, the venue's name and its code for the ban left out."""
    text = AFTER.sub("after T", UNTIL.sub("T (N s more)", text))
    return text.replace("Binance", "the venue").replace(" (HTTP 418)", "").rstrip(".")


async def test_a_ban_is_said_in_the_same_words_by_the_adapter_and_the_engine(
    s: Session,
) -> None:
    s.fake.ban(30)
    with pytest.raises(Banned) as caught:
        await s.broker.cancel("o1")
    adapter = str(caught.value)
    engine = cancels._barred_why(s.broker, s.broker.rest.usage.banned_s())
    assert adapter.startswith("cancel of o1 at binance/spot was NOT sent: "), adapter
    assert engine.startswith("its cancel was NOT sent: "), engine
    said = words(engine.removeprefix("its cancel was "))
    assert words(adapter.removeprefix("cancel of o1 at binance/spot was ")) == said
    for part in ("nothing is sent by itself after", "still working", "cancel it again after"):
        assert part in said
