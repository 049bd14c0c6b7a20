"""A desk that lost its claim on a broker follows the desk that took it (engine/claims.py
`BrokerClaims.follow_lost`): once that desk is known to have gone (its process exited on
this host, or the claim's key is free: released as it quit, or lapsed), the claim is said free
and a restart of this desk is what to do, not the name of a desk that is gone. What a
cancel all says of that broker's orders (engine/cancels.py, engine/commands.py): NOT
cancelled, refused here, at once (no cancel sent to the broker this desk closed)."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.ids import short_id
from silvertine_tui.engine import Session
from silvertine_tui.engine.cancels import (
    NOT_ALL_CANCELLED,
    CancelReport,
    DrivenElsewhere,
    not_cancelled_elsewhere,
)
from silvertine_tui.engine.claims import (
    GONE_HERE,
    LEFT_CLAIM,
    NO_DESK,
    BrokerClaims,
    DeskId,
    _started,
)
from silvertine_tui.engine.commands import (
    CancelAll,
    CancelAllDone,
    CancelOrder,
    ModifyOrder,
    PlaceOrder,
    Refused,
)
from tests.support.paper_session import paper_session

HERE = DeskId.this_process()


def limit_buy(client_order_id: str, broker: str = "paper") -> OrderRequest:
    """A GTC limit buy well below the paper market: it rests."""
    return OrderRequest(
        client_order_id=client_order_id,
        broker=broker,
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal("63500.00"),
        tif=TimeInForce.GTC,
    )


ELSEWHERE = DeskId(desk="d2", host="host-2", pid=42, since=datetime(2026, 1, 2, tzinfo=UTC))


async def lost_to(holder: DeskId) -> tuple[MemoryBus, BrokerClaims]:
    bus = MemoryBus(BusOptions(prefix="gone"))
    await bus.start()
    claims = BrokerClaims(bus, ["paper"], 15)
    await claims.take()
    await bus.claim(
        bus.layout.claim("paper"), holder.model_dump_json(), 60_000, replacing=claims.value
    )
    assert [c.broker for c in await claims.renew()] == ["paper"]
    return bus, claims


async def test_a_taker_whose_process_exited_here_is_said_gone() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(30)"
    )
    try:
        holder = HERE.model_copy(
            update={"desk": "other", "pid": child.pid, "started": _started(child.pid)}
        )
        _, claims = await lost_to(holder)
        await claims.follow_lost()
        conflict = claims.lost["paper"]
        assert conflict.left == ""  # it runs
        assert conflict.holder_name() == holder.name()
        child.kill()
        await child.wait()
        await claims.follow_lost()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    conflict = claims.lost["paper"]
    assert conflict.left == GONE_HERE
    assert conflict.holder_name() == f"{NO_DESK} ({holder.name()} {GONE_HERE})"
    assert conflict.taker_name() == holder.name()
    assert conflict.holder_text().endswith(
        f", which {GONE_HERE}: its claim is free as far as this desk knows"
    )
    # Never taken back while this desk runs: the broker stays lost here.
    assert "paper" not in claims.held
    assert await claims.renew() == []
    assert "paper" not in claims.held


async def test_a_taker_that_released_its_claim_is_said_gone() -> None:
    """The desk that took the broker quit (it released its claim) on another host: the
    claim's key, read, is free. Said so, and what to do: restart this desk."""
    bus, claims = await lost_to(ELSEWHERE)
    await claims.follow_lost()
    assert claims.lost["paper"].left == ""  # it holds it
    assert claims.lost["paper"].holder_name() == "desk host-2 pid 42"
    assert await bus.release(bus.layout.claim("paper"), ELSEWHERE.model_dump_json())
    await claims.follow_lost()
    conflict = claims.lost["paper"]
    assert re.fullmatch(rf"{LEFT_CLAIM} \d\d:\d\d:\d\d UTC", conflict.left), conflict.left
    assert conflict.holder_name() == f"{NO_DESK} (desk host-2 pid 42 {conflict.left})"
    assert conflict.taker_name() == "desk host-2 pid 42"
    # Never taken back while this desk runs: the broker stays lost here.
    assert await claims.renew() == []
    assert "paper" not in claims.held
    assert await bus.claim_holder(bus.layout.claim("paper")) is None


async def test_a_taker_killed_elsewhere_is_said_gone_once_its_claim_lapses() -> None:
    """Killed on another host, the taker says nothing; its claim lapses unrenewed."""
    bus = MemoryBus(BusOptions(prefix="gone"))
    await bus.start()
    claims = BrokerClaims(bus, ["paper"], 15)
    await claims.take()
    await bus.claim(
        bus.layout.claim("paper"), ELSEWHERE.model_dump_json(), 200, replacing=claims.value
    )
    assert [c.broker for c in await claims.renew()] == ["paper"]
    await claims.follow_lost()
    assert claims.lost["paper"].left == ""
    await asyncio.sleep(0.25)  # its ttl, unrenewed
    await claims.follow_lost()
    assert claims.lost["paper"].left.startswith(LEFT_CLAIM)


async def test_a_desk_that_took_the_claim_after_the_taker_is_named() -> None:
    """A third desk holds the claim now: it is the one named, not the desk gone."""
    bus, claims = await lost_to(ELSEWHERE)
    third = ELSEWHERE.model_copy(update={"desk": "d3", "host": "host-3", "pid": 77})
    await bus.claim(
        bus.layout.claim("paper"),
        third.model_dump_json(),
        60_000,
        replacing=ELSEWHERE.model_dump_json(),
    )
    await claims.follow_lost()
    conflict = claims.lost["paper"]
    assert conflict.left == ""
    assert conflict.holder_name() == "desk host-3 pid 77"


async def test_the_keeper_follows_the_taker_while_it_renews() -> None:
    """`keep` looks after each round: the taker's release is found within a round,
    whatever else the keeper does."""
    bus = MemoryBus(BusOptions(prefix="keeper"))
    await bus.start()
    claims = BrokerClaims(bus, ["paper"], 0.3)
    await claims.take()
    lost: list[str] = []

    async def on_lost(conflict: object) -> None:
        lost.append("paper")

    async def on_lapse(lapsed: bool) -> None:
        return None

    keeper = asyncio.create_task(claims.keep(on_lost, on_lapse))
    key = bus.layout.claim("paper")
    try:
        await bus.claim(key, ELSEWHERE.model_dump_json(), 60_000, replacing=claims.value)
        async with asyncio.timeout(5):
            while "paper" not in claims.lost:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await bus.release(key, ELSEWHERE.model_dump_json())
        async with asyncio.timeout(5):
            while not claims.lost["paper"].left:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert lost == ["paper"]
        assert claims.lost["paper"].left.startswith(LEFT_CLAIM)
        assert "paper" not in claims.held  # never taken back while it runs
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


def two_papers() -> Settings:
    brokers = [
        PaperBrokerConfig(
            name=name,
            account="main",
            seed=7,
            symbols=["BTCUSDT"],
            market={"autorun": False},
            latency={"enabled": False},
        )
        for name in ("paper", "paper2")
    ]
    return Settings(brokers=brokers, engine={"claim_ttl_s": 1.0})


async def test_cancel_all_sends_nothing_to_a_lost_broker_and_says_its_orders_at_once() -> None:
    """Two brokers, `paper` taken by another desk: a cancel all cancels `paper2`'s order
    and says `paper`'s NOT cancelled, refused here, with no cancel sent to the broker
    this desk closed (the engine retried those for seconds, up to 3.75 s, until each
    failed `NotConnected`, while a "still going" toast waited for them)."""
    session = Session(two_papers(), bus=MemoryBus(BusOptions(prefix="two")))
    await session.start()
    try:
        engine = session.engine
        here = limit_buy("st000000000000000701", "paper2")
        await engine.submit(here)
        await engine.submit(limit_buy("st000000000000000702"))
        async with asyncio.timeout(5):
            while len(engine.oms.working()) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        bus = session.bus
        await bus.claim(
            bus.layout.claim("paper"),
            ELSEWHERE.model_dump_json(),
            60_000,
            replacing=session.claims.value,
        )
        async with asyncio.timeout(15):
            while "paper" not in session.claims.lost:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        gateway = session.command_gateway()
        began = time.monotonic()
        outcome = await gateway.send(CancelAll())
        assert time.monotonic() - began < 1.0  # (retries of a closed broker: 3.75 s)
        assert isinstance(outcome, CancelAllDone)
        report = outcome.report
        assert report.cancelled == ("st000000000000000701",)
        why = "broker paper is driven by desk host-2 pid 42 now, this desk lost its claim on it"
        assert report.still_working == {"st000000000000000702": why}
        assert report.elsewhere == ("st000000000000000702",)
        assert report.problems == ()
        assert report.headline() == "1 NOT cancelled: driven elsewhere"

        # The broker's one order, by its own cancel or change: refused for the claim,
        # not by a risk limit.
        for command in (
            CancelOrder(client_order_id="st000000000000000702"),
            ModifyOrder(client_order_id="st000000000000000702", quantity=Decimal("0.02")),
        ):
            refused = await gateway.send(command)
            assert isinstance(refused, Refused)
            assert refused.source == "claim"
            assert [p.rule for p in refused.problems] == ["claim_lost"]
        # A new order stays the risk gate's refusal (the ticket lists it so).
        placed = await gateway.send(PlaceOrder(request=limit_buy("st000000000000000703")))
        assert isinstance(placed, Refused)
        assert placed.source == "risk"
        assert [p.rule for p in placed.problems] == ["claim_lost"]
    finally:
        await session.close()


async def test_a_change_refused_while_the_claims_lapse_is_a_claim_refusal() -> None:
    async with paper_session(MemoryBus(), ack_s=0.0) as session:
        engine = session.engine
        coid = await engine.submit(limit_buy("st000000000000000801"))
        async with asyncio.timeout(5):
            while engine.oms.get(coid) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        claims = session.claims
        # The desk held past its claims' lapse (a stop, a long pause): the clock says it.
        claims.renewed_at = claims.round_at = time.monotonic() - claims.ttl_ms / 1000
        refused = await session.command_gateway().send(
            ModifyOrder(client_order_id=coid, quantity=Decimal("0.02"))
        )
        assert isinstance(refused, Refused)
        assert [p.rule for p in refused.problems] == ["claim_lapsed"]
        assert refused.source == "claim"


CIDS = [f"st0000000000{c * 7}{n}" for n, c in enumerate("abcdef")]
LOST = DrivenElsewhere("paper", "paper/main", "desk host-2 pid 42")


@given(
    here=st.sets(st.sampled_from(CIDS[:3])),
    there=st.sets(st.sampled_from(CIDS[3:])),
    other_problem=st.booleans(),
    gone=st.booleans(),
)
def test_a_reports_headline_says_not_cancelled_elsewhere_only_when_nothing_else_failed(
    here: set[str], there: set[str], other_problem: bool, gone: bool
) -> None:
    driven = DrivenElsewhere(
        LOST.broker, LOST.source, LOST.desk, f"{LEFT_CLAIM} 14:30:05 UTC" * gone
    )
    report = CancelReport(
        still_working=dict.fromkeys(sorted(here), "BrokerTimeout: no answer"),
        problems=("ib/DU1: could not list its open orders (BrokerTimeout)",) * other_problem,
    ).merged(not_cancelled_elsewhere(driven, sorted(there)))
    headline = report.headline()
    summary = report.summary()
    if here or other_problem:
        assert headline == NOT_ALL_CANCELLED
    elif there:
        assert headline == f"{len(there)} NOT cancelled: driven elsewhere"
    else:
        assert headline == "NOT cancelled there: driven elsewhere"
    assert ("still working" in summary) == bool(here)
    assert ("NOT cancelled, refused on this desk" in summary) == bool(there)
    assert ("try cancel all again" in summary) == bool(here)
    # Every order is named once, and an order of the lost broker never as still working.
    for cid in [*here, *there]:
        assert summary.count(short_id(cid)) == 1
    # Its desk gone, no order of it is sent to that desk.
    if gone:
        assert "is driven by no desk now" in summary or not there
        assert "driven by desk host-2 pid 42 now" not in summary
    if not there:
        assert "once this desk is restarted" in summary or not gone


async def test_a_claim_read_free_and_held_again_names_its_holder_again() -> None:
    """The desk that took the broker was paused past its ttl (its claim read free) and
    runs again, renewing it: the words name it again, not "free" for good (a restart
    of this desk would be refused)."""
    bus, claims = await lost_to(ELSEWHERE)
    key = bus.layout.claim("paper")
    assert await bus.release(key, ELSEWHERE.model_dump_json())
    await claims.follow_lost()
    assert claims.lost["paper"].left.startswith(LEFT_CLAIM)
    await bus.claim(key, ELSEWHERE.model_dump_json(), 60_000)
    await claims.follow_lost()
    conflict = claims.lost["paper"]
    assert conflict.left == ""
    assert conflict.holder_name() == "desk host-2 pid 42"


class HungRead(MemoryBus):
    """A claim's read that never answers (Redis slow, a socket hung)."""

    async def claim_holder(self, key: str) -> str | None:
        await asyncio.sleep(30)
        return None


async def test_a_hung_look_at_a_lost_claim_never_holds_the_renewals_back() -> None:
    """Run in line between the renewals, the look at a lost claim held this desk's own
    renewals past half their ttl: `stalled` and `lapsed` read True and the send guard
    refused orders as `claim_lapsed` though every key was fine (the review's case)."""
    bus = HungRead(BusOptions(prefix="hung"))
    await bus.start()
    claims = BrokerClaims(bus, ["paper", "paper2"], 0.6)
    await claims.take()
    lapses: list[bool] = []

    async def on_lost(conflict: object) -> None:
        return None

    async def on_lapse(lapsed: bool) -> None:
        lapses.append(lapsed)

    keeper = asyncio.create_task(claims.keep(on_lost, on_lapse))
    try:
        await bus.claim(
            bus.layout.claim("paper"), ELSEWHERE.model_dump_json(), 60_000, replacing=claims.value
        )
        async with asyncio.timeout(5):
            while "paper" not in claims.lost:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        stalled = lapsed = 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            await asyncio.sleep(0.005)
            stalled += claims.stalled
            lapsed += claims.lapsed
        assert (stalled, lapsed, lapses) == (0, 0, [])
        assert claims.held == {"paper2"}
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
    assert claims._follower is None  # stopped with the keeper
