"""Retry with backoff for transient broker errors, written once for all adapters."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import BrokerError, RateLimited

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 5.0
    jitter: float = 0.2  # fraction of the delay, seeded for reproducible tests


async def with_retry(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy = RetryPolicy(),
    *,
    what: str = "broker call",
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `operation`; retry only errors marked `retryable`, with exponential backoff.

    A `RateLimited` error waits at least its `retry_after` (retrying a venue early
    escalates rate limits into bans).
    """
    rng = rng or random.Random(0)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except BrokerError as exc:
            if not exc.retryable or attempt >= policy.attempts:
                raise
            delay = min(policy.base_delay * 2 ** (attempt - 1), policy.max_delay)
            delay *= 1 + rng.uniform(-policy.jitter, policy.jitter)
            if isinstance(exc, RateLimited):
                delay = max(delay, exc.retry_after)
            log.warning(
                "broker.retry",
                extra={
                    "what": what,
                    "attempt": attempt,
                    "delay_s": round(delay, 3),
                    "error": str(exc),
                },
            )
            await sleep(delay)
