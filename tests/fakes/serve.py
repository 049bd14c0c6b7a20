"""What the fakes' `python -m` servers share: the common options, and running a market
walk until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def walk_parser(prog: str, port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between moves")
    return parser


async def walk_until_stopped(walk: Coroutine[Any, Any, None]) -> None:
    """Run the market walk until SIGINT or SIGTERM, then cancel it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    walker = asyncio.create_task(walk)
    await stop.wait()
    walker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await walker
