"""Waiting in a test for something the loop will do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(check: Callable[[], bool], within_s: float = 2.0, what: str = "") -> None:
    """Return once `check()` holds; fail the test after `within_s` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        assert loop.time() < deadline, f"{what or 'the condition'} not within {within_s} s"
        await asyncio.sleep(0.005)
