"""A broker's close honours a cancel of the task running it, at whatever step the
cancel lands. Its close cancels its own tasks and waits for each to end; waited under
`contextlib.suppress(CancelledError)`, a cancel of the closer landing in that wait was
dropped with the task's own: a broker closed on the claims keeper's task (its claim
lost) swallowed the session's cancel of the keeper, which went on renewing while the
session's close waited for it for ever (the CI hang of
test_claims_split_brain::test_a_desk_held_past_its_ttl_sends_nothing_when_it_resumes)."""

from __future__ import annotations

import asyncio

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.stopping import stop_task
from silvertine_tui.bus import MemoryBus
from tests.unit.test_paper_broker import paper_config

STEPS = 60
"""More loop steps than a paper broker's close takes (about 5 on a memory bus): the
cancel lands at every one of them, then after the close is over."""


async def test_a_close_cancelled_at_any_step_ends_cancelled() -> None:
    swallowed: list[int] = []
    landed = 0
    for step in range(STEPS):
        bus = MemoryBus()
        await bus.start()
        broker = PaperBroker(paper_config(), bus)
        await broker.connect()
        closer = asyncio.create_task(broker.close(), name="closer")
        for _ in range(step):
            await asyncio.sleep(0)
        if closer.done():
            await bus.close()
            break  # every step of the close was tried
        closer.cancel()
        landed += 1
        await asyncio.wait([closer], timeout=5)
        assert closer.done(), f"the close cancelled at step {step} did not end"
        if not closer.cancelled():
            swallowed.append(step)
        await broker.close()  # what the cancel left undone
        await bus.close()
    assert landed >= 3, "the close ended before any cancel could land in it"
    assert swallowed == [], f"the cancel of the closer was swallowed at steps {swallowed}"


async def test_stop_task_ends_the_task_and_keeps_the_callers_cancel() -> None:
    ended = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # a task that cleans up before it ends
            ended.set()

    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    await stop_task(task)  # nobody cancels the caller: it returns
    assert task.cancelled()
    assert ended.is_set()

    ended.clear()
    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(stop_task(task))
    await asyncio.sleep(0.01)  # the stopper waits for the task's clean-up
    stopper.cancel()
    await asyncio.wait([stopper], timeout=5)
    assert stopper.cancelled(), "the stopper's own cancel was swallowed"
    assert task.done()
