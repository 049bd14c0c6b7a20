"""Shared fixtures. Redis: a throwaway server owned by the session, a unique key prefix.

Tests never touch the shared Redis on 6379; helpers live in `tests/support/`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own `XDG_STATE_HOME` (inherited by the desks it starts as processes):
    a desk's log, the UI's remembered choices and a desk's last-run record never land
    in the real home, nor in another test's."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path
