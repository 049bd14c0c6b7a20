"""Retry with backoff: only transient errors, rate limits honoured, bounded attempts."""

from __future__ import annotations

import random

import pytest

from silvertine_tui.brokers import (
    BrokerTimeout,
    NotConnected,
    OrderRejected,
    RateLimited,
    RetryPolicy,
    with_retry,
)


class Flaky:
    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_transient_errors_are_retried_with_growing_delays() -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    op = Flaky([NotConnected("down"), BrokerTimeout("slow")])
    policy = RetryPolicy(attempts=3, base_delay=0.1, jitter=0)
    assert await with_retry(op, policy, sleep=sleep) == "ok"
    assert op.calls == 3
    assert slept == [pytest.approx(0.1), pytest.approx(0.2)]


async def test_a_rejection_is_never_retried() -> None:
    op = Flaky([OrderRejected("insufficient balance")])
    with pytest.raises(OrderRejected):
        await with_retry(op, RetryPolicy(attempts=5))
    assert op.calls == 1


async def test_rate_limit_waits_at_least_retry_after() -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    op = Flaky([RateLimited("429", retry_after=7.0)])
    await with_retry(op, RetryPolicy(base_delay=0.1), sleep=sleep, rng=random.Random(1))
    assert slept[0] >= 7.0


async def test_gives_up_after_the_last_attempt() -> None:
    async def sleep(delay: float) -> None:
        return None

    op = Flaky([NotConnected("down")] * 5)
    with pytest.raises(NotConnected):
        await with_retry(op, RetryPolicy(attempts=3), sleep=sleep)
    assert op.calls == 3
