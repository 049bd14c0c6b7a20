"""A bus URL whose user name or password holds `/`, `?`, `#` or a second `@` unencoded
is refused by the config, naming the field and the rule and never echoing the password.

Before, `redis://:Zx@localhost:1/q@10.9.9.9:6379/0` was accepted (redis-py could parse
it): redis-py ends the password at the first `@` and takes `localhost:1` for the host,
so part of the password went out as a host name (a DNS query for a real one) and was
printed in "cannot reach Redis at ..." errors, which the log did not hide (it is no
registered secret: only the whole userinfo was)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from silvertine_tui import cli
from silvertine_tui.config import BusConfig, ConfigError, load_settings
from silvertine_tui.domain import redaction

# A password `Zx@localhost:1/q` written unencoded; redis-py reads password `Zx` and
# host `localhost`, port 1.
MISREAD = "redis://:Zx@localhost:1/q@10.9.9.9:6379/0"
PIECES = ("Zx", "localhost", "/q")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SILVERTINE_"):
            monkeypatch.delenv(name)


def problems_of(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    return info.value.problems


@pytest.mark.parametrize(
    "url",
    [
        MISREAD,
        "redis://:Zx@localhost:1?q@10.9.9.9:6379/0",
        "redis://:Zx@localhost:1#q@10.9.9.9:6379/0",
        "rediss://user:Zx@localhost@10.9.9.9:6380/0",  # a second @
        "redis://:Zx@localhost@10.9.9.9:6379/0",
    ],
)
def test_a_password_redis_py_would_cut_is_refused_without_echoing_it(url: str) -> None:
    [problem] = problems_of(bus={"url": url})
    assert problem.startswith("bus.url: a user name or password in it holds / ? # or a second @")
    assert "percent-encoded (%2F %3F %23 %40)" in problem
    assert "bus.password" in problem
    for piece in PIECES:
        assert piece not in problem


def test_the_same_password_percent_encoded_is_taken_and_hidden() -> None:
    url = "redis://:Zx%40localhost:1%2Fq@10.9.9.9:6379/0"
    settings = load_settings(bus={"url": url})
    assert settings.bus.url == url
    assert settings.bus.redacted_url() == "redis://:***@10.9.9.9:6379/0"
    # Userinfo without any of them, a query, a unix socket: as before.
    for fine in (
        "redis://user:pw@127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/0?password=pw",
        "unix://:pw@/run/redis.sock?db=0",
        "redis://[::1]:6379/0",
    ):
        assert load_settings(bus={"url": fine}).bus.url == fine


def test_silvertine_config_refuses_it_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(f"bus: {{url: '{MISREAD}'}}\n")
    code = cli.main(["config", "-c", str(config)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_CONFIG, out + err
    assert "bus.url: a user name or password in it holds" in err
    for piece in PIECES:
        assert piece not in out + err


def test_the_redaction_knows_the_same_rule() -> None:
    """The bus shows its URL by `redact_url`: a userinfo with a second `@` is hidden
    whole, as one with `/ ? #` was."""
    assert redaction.redact_url("redis://:p@ss@host:6379/0") == "redis://***@host:6379/0"
    assert redaction.redact_url(MISREAD) == "redis://***@10.9.9.9:6379/0"
    assert redaction.userinfo_problem(MISREAD)
    assert redaction.userinfo_problem("redis://:p@ss@host:6379/0")
    assert not redaction.userinfo_problem("redis://:p%40ss@host:6379/0")
    assert not redaction.userinfo_problem("redis://host:6379/0")
    shown = BusConfig.model_construct(url=MISREAD).redacted_url()
    for piece in PIECES:
        assert piece not in shown
