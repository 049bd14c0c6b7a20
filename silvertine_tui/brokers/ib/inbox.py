"""One queue of jobs run in order by one task.

ib_async calls back from its socket reader, synchronously; each callback becomes a job
here, so what TWS reported is journaled in the order TWS sent it and nothing blocks the
reader. `join` returns once every job queued so far has run. A job that fails is
logged at ERROR and handed to `on_failure` (the broker counts and says it): the report
it carried did not reach the journal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..stopping import stop_task

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]
Failure = Callable[[Exception], Awaitable[None]]


class Inbox:
    def __init__(self, name: str, on_failure: Failure | None = None) -> None:
        self.name = name
        self._on_failure = on_failure
        self._queue: asyncio.Queue[tuple[Job, bool]] = asyncio.Queue()
        self._answers = 0  # queued jobs that may answer a waiting request
        self._task: asyncio.Task[None] | None = None
        self._arrival = asyncio.Event()

    def put(self, job: Job, *, answer: bool = False) -> None:
        """Queue `job`; `answer`: it may answer a request waiting for TWS (an order's
        status, openOrder or error while a place, modify or cancel waits)."""
        self._queue.put_nowait((job, answer))
        if answer:
            self._answers += 1
            self._arrival.set()

    async def next_answer(self) -> None:
        """Return once a job that may answer a waiting request is queued (at once if
        one is)."""
        if self._answers:
            return
        self._arrival.clear()
        await self._arrival.wait()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"ib-inbox:{self.name}")

    async def join(self) -> None:
        await self._queue.join()

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            job, answer = await self._queue.get()
            if answer:
                self._answers -= 1
            try:
                await job()
            except Exception as exc:
                log.exception("ib.job_failed", extra={"inbox": self.name})
                if self._on_failure is not None:
                    try:
                        await self._on_failure(exc)
                    except Exception:
                        log.exception("ib.job_failure_unsaid", extra={"inbox": self.name})
            finally:
                self._queue.task_done()
