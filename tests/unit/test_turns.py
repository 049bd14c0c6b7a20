"""`Turns`: per order, one caller at a time, first come first served, also when a
caller is cancelled while it waits or while it works; nothing kept once all are done."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.turns import Turns

# Each caller: its key, how many loop turns it works, and whether it is cancelled
# (and after how many loop turns from the start).
CALLERS = st.lists(
    st.tuples(
        st.sampled_from("ab"),
        st.integers(min_value=0, max_value=4),
        st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    ),
    min_size=1,
    max_size=8,
)


async def _run(callers: list[tuple[str, int, int | None]]) -> None:
    turns = Turns()
    inside: dict[str, int] = {"a": 0, "b": 0}
    began: dict[str, list[int]] = {"a": [], "b": []}

    async def work(n: int, key: str, steps: int) -> None:
        async with turns.turn(key):
            inside[key] += 1
            assert inside[key] == 1, f"two turns of {key} at once"
            began[key].append(n)
            try:
                for _ in range(steps):
                    await asyncio.sleep(0)
            finally:
                inside[key] -= 1

    tasks = [asyncio.create_task(work(n, key, steps)) for n, (key, steps, _) in enumerate(callers)]
    for tick in range(14):
        for task, (_, _, cancel_at) in zip(tasks, callers, strict=True):
            if cancel_at == tick:
                task.cancel()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks, return_exceptions=True)
    for key in "ab":
        asked = [n for n, (k, _, _) in enumerate(callers) if k == key]
        assert began[key] == sorted(began[key]), "not first come first served"
        assert set(began[key]) <= set(asked)
        assert not turns.busy(key)


@settings(max_examples=200, deadline=None)
@given(callers=CALLERS)
def test_one_turn_at_a_time_in_the_order_asked(callers: list[tuple[str, int, int | None]]) -> None:
    asyncio.run(_run(callers))


async def test_a_caller_cancelled_while_waiting_keeps_the_next_behind_the_first() -> None:
    turns = Turns()
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with turns.turn("x"):
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def later(name: str) -> None:
        async with turns.turn("x"):
            order.append(name)

    one = asyncio.create_task(first())
    await asyncio.sleep(0)
    two = asyncio.create_task(later("second"))
    three = asyncio.create_task(later("third"))
    await asyncio.sleep(0)
    two.cancel()  # cancelled while it waits for the first
    await asyncio.sleep(0)
    assert order == ["first in"]  # the third still waits for the first
    release.set()
    await asyncio.gather(one, three, return_exceptions=True)
    assert order == ["first in", "first out", "third"]
    assert not turns.busy("x")
