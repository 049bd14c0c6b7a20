"""The IB adapter's execution ledger (`brokers/ib/ledger.py`) held every execution of
the session, by contract, for as long as the desk ran: each row kept ib_async's Fill
alive after ib_async itself let go of it (`IBBroker._tidy_wrapper`), about 1.2 KB an
execution (5,000 fills: 6 MB). It now folds a contract's older executions into the
state the average-price replay had after them (`ExecutionLedger.rows_kept` newest
kept), so it holds a bounded number whatever the day's trading; what the average needs
of them still counts: an execution TWS sends again (a catch-up's reqExecutions, a
duplicated replay, a reconnect's) is not counted twice, a commission report that comes
after its execution left the window is still taken out, and a correction replaces the
execution, within the window or folded. Against the fake TWS with the real ib_async
client; the average expected is `translate.average_price` over every execution the
fake made (the whole day replayed, as the ledger did before)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import CommissionReport, Contract, Execution, Fill

from silvertine_tui.brokers.ib.ledger import FOLDED_HEADS_KEPT, ExecutionLedger
from silvertine_tui.brokers.ib.translate import average_price, position_of
from silvertine_tui.domain import ConnectionState, Side
from tests.fakes.tws import FakeTws
from tests.fakes.tws.contracts import ContractSpec
from tests.support.ib import Desk, desk, fills
from tests.support.waiting import until

KEPT = 10  # the ledger's `rows_kept` in these tests
ACCOUNT = "DU123456"


def held(d: Desk) -> int:
    """Executions the ledger holds: by id, and in its contracts' books."""
    ledger = d.broker.ledger
    in_books = sum(len(book.rows) for book in ledger._books.values())
    return max(len(ledger._rows), in_books)


def charges() -> Callable[[ContractSpec, Decimal, Decimal], Decimal]:
    """Commissions that differ from one execution to the next."""
    cycle = itertools.cycle([Decimal("1.00"), Decimal("0.35"), Decimal("2.10"), Decimal("0.71")])
    return lambda *_: next(cycle)


def ticking(fake: FakeTws) -> None:
    """Each execution a second after the one before (TWS stamps them to the second)."""
    start = fake.exchange.clock().replace(microsecond=0)
    seconds = itertools.count()
    fake.exchange.clock = lambda: start + timedelta(seconds=next(seconds))


def expected(d: Desk, *, without: frozenset[str] = frozenset()) -> Decimal | None:
    """The desk's average of IB's position: IB's average cost less the commissions of
    every execution of the day (`without`: exec ids whose commission the desk does not
    know yet), replayed whole."""
    [ib_position] = [p for p in d.broker.ib.positions(d.broker.account) if p.position]
    executions = [
        (
            e.shares if e.side == "BOT" else -e.shares,
            Decimal(0) if e.exec_id in without else e.commission,
        )
        for e in d.fake.executions
    ]
    return position_of(
        ib_position, key="AAPL.SMART", broker="ib", instrument=None, executions=executions
    ).avg_price


async def reported(d: Desk) -> Decimal | None:
    [position] = await d.broker.positions()
    return position.avg_price


def close_enough(ours: Decimal | None, theirs: Decimal | None) -> bool:
    """Equal but for the last of the 28 digits a commission learnt late moves by
    another way of sums (`ExecutionLedger`: a folded execution's commission)."""
    if ours is None or theirs is None:
        return ours is theirs
    return abs(ours - theirs) <= abs(theirs) * Decimal("1e-12")


class Trading:
    """Two working orders on AAPL, a buy and a sell, filled in turn (2 bought, 1 sold,
    prices moving): the position is long from the first fill and never flat."""

    def __init__(self, d: Desk, buy: int, sell: int) -> None:
        self.d = d
        self.buy = buy
        self.sell = sell
        self.turn = itertools.count()

    @classmethod
    async def open(cls, d: Desk) -> Trading:
        buy = await d.broker.place(d.request(Side.BUY, qty="100000", limit="149.50"))
        sell = await d.broker.place(d.request(Side.SELL, qty="100000", limit="150.50"))
        bought, sold = d.broker.ids.get(buy), d.broker.ids.get(sell)
        assert bought is not None
        assert sold is not None
        return cls(d, bought.order_id, sold.order_id)

    async def fills(self, n: int) -> None:
        for _ in range(n):
            i = next(self.turn)
            if i % 3 == 2:
                await self.d.fake.fill(self.sell, "1", price=f"150.{50 + i % 9}")
            else:
                await self.d.fake.fill(self.buy, "2", price=f"149.{50 - i % 7}")
            if i % 5 == 4:
                await self.d.broker.settle()
        await self.d.broker.settle()


async def test_a_day_of_fills_leaves_the_ledger_bounded_and_the_average_as_before() -> None:
    """300 fills of one contract: the ledger holds a bounded number of them (each
    position report folds the older ones), and the position's average is the whole
    day's replay, after every batch of fills."""
    async with FakeTws(cash={"USD": "10000000"}, commission=charges()) as fake:
        ticking(fake)
        async with desk(fake) as d:
            d.broker.ledger.rows_kept = KEPT
            trading = await Trading.open(d)
            for _ in range(10):
                await trading.fills(30)
                assert await reported(d) == expected(d)
                assert held(d) <= 3 * KEPT, held(d)
            assert len(fake.executions) == 300
            assert len(fills(await d.events())) == 300


async def test_executions_sent_again_are_not_counted_twice() -> None:
    """Once executions were folded, TWS sends the day's executions again: a catch-up's
    reqExecutions (ib_async takes in again those it let go of), a replay that sends
    each twice, and a reconnect (ib_async's new session: the ledger reads them anew).
    None counts twice: the average stays the day's, the ledger bounded."""
    async with FakeTws(cash={"USD": "10000000"}, commission=charges()) as fake:
        ticking(fake)
        async with desk(fake) as d:
            d.broker.ledger.rows_kept = KEPT
            trading = await Trading.open(d)
            await trading.fills(90)
            before = await reported(d)
            assert before == expected(d)
            assert held(d) <= 3 * KEPT
            await d.broker._catch_up()
            fake.duplicate_next_replay()
            await d.broker._catch_up()
            await d.broker.settle()
            assert await reported(d) == before
            assert held(d) <= 3 * KEPT, held(d)
            await trading.fills(30)
            assert await reported(d) == expected(d)
            fake.reserve_client_id(1)
            await fake.drop_connections()
            await until(lambda: d.broker.state is ConnectionState.DISCONNECTED, 4, "the drop")
            fake.release_client_id(1)
            await until(lambda: d.broker.state is ConnectionState.LIVE, 4, "the reconnect")
            await d.broker.settle()
            assert await reported(d) == expected(d)
            assert held(d) <= 3 * KEPT, held(d)
            await trading.fills(30)
            assert await reported(d) == expected(d)
            assert held(d) <= 3 * KEPT, held(d)
            assert len(fills(await d.events())) == 150


async def test_a_reconnect_with_the_position_flat_leaves_the_ledger_bounded() -> None:
    """A reconnect reads the day's executions anew (ib_async's new session): a
    contract flat by then gets no position report that would fold them, and is
    folded when the session is rebuilt; traded again, its average is the day's."""
    async with FakeTws(cash={"USD": "10000000"}, commission=charges()) as fake:
        ticking(fake)
        async with desk(fake) as d:
            d.broker.ledger.rows_kept = KEPT
            trading = await Trading.open(d)
            await trading.fills(60)
            await fake.fill(trading.sell, "60", price="150.55")  # flat
            await d.broker.settle()
            assert await d.broker.positions() == []
            assert held(d) <= 3 * KEPT, held(d)
            fake.reserve_client_id(1)
            await fake.drop_connections()
            await until(lambda: d.broker.state is ConnectionState.DISCONNECTED, 4, "the drop")
            fake.release_client_id(1)
            await until(lambda: d.broker.state is ConnectionState.LIVE, 4, "the reconnect")
            await d.broker.settle()
            assert held(d) <= 3 * KEPT, held(d)
            await trading.fills(30)
            assert await reported(d) == expected(d)
            assert held(d) <= 3 * KEPT, held(d)


async def test_a_commission_that_comes_after_its_execution_left_the_window_is_taken_out() -> None:
    """An execution's commission report is held back while 60 more fills come (the
    execution is long out of the newest `rows_kept`): until it comes the commission
    stays in IB's average; when it comes, it is taken out as if it had come at once."""
    async with FakeTws(cash={"USD": "10000000"}, commission=charges()) as fake:
        ticking(fake)
        async with desk(fake) as d:
            d.broker.ledger.rows_kept = KEPT
            trading = await Trading.open(d)
            await trading.fills(5)
            fake.hold_next_commissions()
            late = await fake.fill(trading.buy, "2", price="149.47")
            await trading.fills(60)
            assert held(d) <= 3 * KEPT, held(d)
            assert await reported(d) == expected(d, without=frozenset({late.exec_id}))
            await fake.release_commissions()
            await d.broker.settle()
            now = await reported(d)
            assert close_enough(now, expected(d)), (now, expected(d))
            assert now != expected(d, without=frozenset({late.exec_id}))
            await trading.fills(30)
            assert close_enough(await reported(d), expected(d))


async def test_a_correction_replaces_the_execution_within_the_window_and_folded() -> None:
    """IB corrects executions: a recent one (its size), one folded long ago (its
    price; the correction stamped with the execution's time), another folded one and
    a recent one whose corrections carry a later time. Each replaces its execution, in
    its place, none is a second one: the average is the day's replay of the corrected
    executions."""
    async with FakeTws(cash={"USD": "10000000"}, commission=charges()) as fake:
        ticking(fake)
        async with desk(fake) as d:
            d.broker.ledger.rows_kept = KEPT
            trading = await Trading.open(d)
            await trading.fills(60)
            first, second = fake.executions[3], fake.executions[9]
            assert first.side == second.side == "BOT"
            await fake.correct_execution(fake.executions[-2], shares="5")
            await d.broker.settle()
            assert await reported(d) == expected(d)
            await fake.correct_execution(first, price="149.31")
            await d.broker.settle()
            assert await reported(d) == expected(d)
            await fake.correct_execution(second, price="149.33", at=fake.exchange.clock())
            await d.broker.settle()
            assert await reported(d) == expected(d)
            recent = fake.executions[-3]
            assert recent.side == "BOT"
            await fake.correct_execution(recent, price="149.29", at=fake.exchange.clock())
            await d.broker.settle()
            assert await reported(d) == expected(d)  # (in the execution's place)
            await trading.fills(30)
            assert await reported(d) == expected(d)
            assert held(d) <= 3 * KEPT, held(d)


# --- the ledger alone: any trades, whatever comes late --------------------------------

CON_ID = 265598
EPOCH = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def ib_fill(exec_id: str, signed: Decimal, second: int) -> Fill:
    execution = Execution(
        execId=exec_id,
        acctNumber=ACCOUNT,
        side="BOT" if signed > 0 else "SLD",
        shares=float(abs(signed)),
        time=EPOCH + timedelta(seconds=second),
    )
    return Fill(Contract(conId=CON_ID, currency="USD"), execution, CommissionReport(), EPOCH)


steps = st.lists(
    st.tuples(
        st.integers(-40, 40).filter(bool).map(Decimal),  # the execution's quantity
        st.integers(0, 300).map(lambda cents: Decimal(cents) / 100),  # its commission
        st.sampled_from(["now", "late", "never"]),  # its commission report
        st.integers(0, 3),  # executions TWS sends again after it
        st.booleans(),  # in the same second as the one before (TWS's time)
        st.booleans(),  # TWS's position report came before the execution
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(
    opening=st.integers(-50, 50).map(Decimal),
    trades=steps,
    kept=st.integers(1, 6),
    heads=st.sampled_from([0, 3, FOLDED_HEADS_KEPT]),
)
def test_the_bounded_ledger_says_what_the_whole_day_replayed_says(
    opening: Decimal,
    trades: list[tuple[Decimal, Decimal, str, int, bool, bool]],
    kept: int,
    heads: int,
) -> None:
    """Any trades from any opening position (adding, reducing, through zero, flat),
    several in one of TWS's seconds, each commission known at once, late (learnt once
    many executions came after it) or never (another program's: it stays in IB's
    average), executions sent again (known by id, by head, or only by time once the
    ledger remembers no heads), positions reported before their execution (a start
    that does not fit, its average a guess): after each execution, the ledger's
    average is `average_price` over every execution so far, and it holds a bounded
    number of them."""
    ledger = ExecutionLedger(ACCOUNT)
    ledger.rows_kept = kept
    ledger.heads_kept = heads
    source: dict[str, Fill] = {}
    known: dict[str, Decimal] = {}  # exec id -> commission the desk knows now
    final: set[str] = set()
    charged: dict[str, Decimal] = {}
    late: list[str] = []
    day: list[tuple[str, Decimal]] = []

    def commission(fill: Fill, currency: str) -> tuple[Decimal, bool]:
        exec_id = fill.execution.execId
        return known.get(exec_id, Decimal(0)), exec_id in final

    avg_cost = Decimal("150.125")

    def average() -> Decimal:
        quantity = opening + sum((signed for _, signed in day), Decimal(0))
        expected = average_price(
            avg_cost, quantity, [(signed, known.get(e, Decimal(0))) for e, signed in day]
        )
        ours = ledger.average(CON_ID, commission, avg_cost, quantity, Decimal(1))
        assert close_enough(ours, expected), (ours, expected)
        return ours

    def sent_again(n: int) -> Iterator[Fill]:
        """Executions of the day TWS sends again (ib_async makes a new Fill of each)."""
        for at, (exec_id, signed) in enumerate(day):
            if at % 3 == n % 3 and n:
                yield ib_fill(exec_id, signed, seconds[at])

    seconds: list[int] = []
    for n, (signed, fee, report, again, same_second, position_first) in enumerate(trades):
        exec_id = f"0000e{n:06x}.{n:08x}.01.01"
        ahead = opening + sum((s for _, s in day), signed)
        if position_first and ahead:
            assert ledger.average(CON_ID, commission, avg_cost, ahead, Decimal(1)) > 0
        seconds.append(seconds[-1] + (0 if same_second else 1) if seconds else 0)
        fill = ib_fill(exec_id, signed, seconds[-1])
        source[exec_id] = fill
        day.append((exec_id, signed))
        charged[exec_id] = fee
        if report == "now":
            known[exec_id] = fee
            final.add(exec_id)
        elif report == "late":
            late.append(exec_id)
        ledger.add(source, fill)
        for repeat in sent_again(again):
            ledger.add(source, repeat)
        if opening + sum((s for _, s in day), Decimal(0)):
            average()
        if len(late) > 2 * kept or (late and n == len(trades) - 1):
            exec_id = late.pop(0)
            known[exec_id] = charged[exec_id]
            final.add(exec_id)
            ledger.touch([exec_id])
            if opening + sum((s for _, s in day), Decimal(0)):
                average()
        # Bounded: twice the executions kept, those of the second a fold would end in
        # (a fold ends between two seconds), those whose commission may still change.
        unfinal = sum(1 for e, _ in day if e not in final)
        crowd = max(Counter(seconds).values())
        bound = 2 * kept + 2 + crowd + unfinal
        assert ledger.held <= bound, (ledger.held, kept, crowd, unfinal)
