"""Shared fixtures. Redis: a throwaway server owned by the session, a unique key prefix.

Tests never touch the shared Redis on 6379; helpers live in `tests/support/`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A `redis-server` on a free port (`--save "" --appendonly no`), killed at the end.

    Shared by the session: do not kill it; a test that needs to kill or restart a
    server starts its own `RedisServer`.
    """
    with RedisServer() as server:
        yield server


@pytest.fixture
def key_prefix() -> str:
    """A stream key prefix no other test uses (`t-<uuid>`)."""
    return f"t-{uuid.uuid4().hex}"
