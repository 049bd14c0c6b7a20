"""Stopping a broker's background task from its close."""

from __future__ import annotations

import asyncio
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait for it to end. Its own `CancelledError` is the expected
    end and is dropped; a cancel of the task running this (the closer, cancelled while
    it waits) is not. `contextlib.suppress(CancelledError)` around the await dropped
    both: a broker closed on a claims keeper's task swallowed the session's cancel of
    the keeper, which went on renewing while the session's close waited for it for
    ever."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
