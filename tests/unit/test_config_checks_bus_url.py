"""A bus URL query parameter redis-py does not take (`?timeout=5`) passed the config and
then every command died in a TypeError traceback (exit 1), at the first connection:
refused when the config is loaded, naming the parameter, never a password."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)

from silvertine_tui.cli import EXIT_CONFIG, main
from silvertine_tui.config import ConfigError, load_settings

CLASSES: dict[str, type[AbstractConnection]] = {
    "redis": Connection,
    "rediss": SSLConnection,
    "unix": UnixDomainSocketConnection,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.lower().startswith("silvertine_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def accepted_by_redis(scheme: str) -> set[str]:
    """The keyword arguments redis-py's pool and connection class for `scheme` take."""
    names: set[str] = set(inspect.signature(ConnectionPool.__init__).parameters)
    for cls in CLASSES[scheme].__mro__:
        init = cls.__dict__.get("__init__")
        if init is not None:
            names |= set(inspect.signature(init).parameters)
    return names - {"self", "kwargs", "connection_kwargs"}


def refused(url: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(bus={"url": url})
    return err.value.problems


def test_a_parameter_redis_py_does_not_take_is_what_crashed_every_command() -> None:
    pool = ConnectionPool.from_url("redis://127.0.0.1:6398/0?timeout=5")
    with pytest.raises(TypeError):
        pool.make_connection()  # type: ignore[no-untyped-call]  # the crash it heads off


def test_it_is_refused_at_config_naming_the_parameter() -> None:
    (problem,) = refused("redis://127.0.0.1:6398/0?timeout=5")
    assert problem.startswith("bus.url: query parameter 'timeout' is not one redis-py takes")
    (problem,) = refused("redis://h:1/0?PASSWORD=x")
    assert "did you mean 'password'?" in problem
    (problem,) = refused("redis://h:1/0?ssl_certfile=/c.pem")
    assert "ssl_* parameters apply to rediss:// only" in problem


def test_a_password_is_never_in_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    url = "redis://:hunter2-pass@127.0.0.1:6398/0?password=sekret-99&timeout=5&tls=sekret-77"
    assert main(["config", "--bus", url]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "bus.url (--bus): query parameter 'timeout'" in err
    assert "bus.url (--bus): query parameter 'tls'" in err
    for secret in ("hunter2-pass", "sekret-99", "sekret-77"):
        assert secret not in err


def test_the_bus_own_settings_are_refused_from_the_url() -> None:
    (problem,) = refused("redis://h:1/0?socket_timeout=0.5")
    assert "'socket_timeout' is one the bus sets itself" in problem


@pytest.mark.parametrize("scheme", sorted(CLASSES))
def test_every_parameter_taken_is_one_redis_py_takes_for_the_scheme(scheme: str) -> None:
    from silvertine_tui import config

    names = config._URL_PARAMETERS | config._SSL_PARAMETERS | config._TCP_PARAMETERS
    names |= config._BUS_OWN_PARAMETERS | {"timeout", "x"}
    host = "/tmp/r.sock" if scheme == "unix" else "h:1/0"
    redis_takes = accepted_by_redis(scheme)
    taken = {n for n in names if not config.bus_url_problems(f"{scheme}://{host}?{n}=1")}
    assert taken <= redis_takes
    assert len(taken) >= 10


def test_urls_that_work_still_pass() -> None:
    for url in (
        "redis://127.0.0.1:6379/0?password=pw&db=2",
        "rediss://h:6380/0?ssl_certfile=/c.pem&ssl_password=x&ssl_cert_reqs=required",
        "unix:///run/redis.sock?db=0",
        "redis://h/0?pass%77ord=x",  # redis-py decodes the name: the password
        "memory://",
    ):
        assert load_settings(bus={"url": url}).bus.url == url
