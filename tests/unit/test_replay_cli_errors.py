"""`silvertine replay` with a `--since` that is no entry id, or a `--stream` naming a key
that is not a stream: a clear message and an exit code, never a traceback. Before,
both ended in a `BusError` traceback, the second one advising to `DEL` the key (a
desk's broker claim, say)."""

from __future__ import annotations

import pytest

from silvertine_tui import cli
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("since", ["abc", "12-x", "-5", "1-2-3", "99999999999999999999999"])
def test_since_that_is_no_entry_id_is_refused_by_the_parser(
    since: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["replay", "--bus", "redis://127.0.0.1:1/0", "--since", since])
    assert exit_.value.code == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "--since" in err
    assert "entry id" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("since", ["0", "0-0", "1700000000000", "1700000000000-3"])
def test_an_entry_id_or_a_time_in_ms_is_taken(
    since: str, redis_server: RedisServer, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command(redis_server.host, redis_server.port, "XADD", f"{key_prefix}:signal", "*", "a", "b")
    code = cli.main(["replay", "--bus", redis_server.url, "--prefix", key_prefix, "--since", since])
    assert code == cli.EXIT_OK, capsys.readouterr().err


def test_a_stream_that_names_a_key_of_another_type_is_said(
    redis_server: RedisServer, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    claim = f"{key_prefix}:claim:paper"
    command(redis_server.host, redis_server.port, "SET", claim, "a desk")
    code = cli.main(
        ["replay", "--bus", redis_server.url, "--prefix", key_prefix, "--stream", "claim:paper"]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_BUS, err
    assert f"silvertine replay: {claim} is not a stream" in err
    assert "DEL" not in err
    assert "Traceback" not in err
    # Nothing was deleted: the key is someone else's.
    assert command(redis_server.host, redis_server.port, "GET", claim) == b"$6\r\na desk\r\n"


def test_an_unknown_stream_prints_nothing_and_is_fine(
    redis_server: RedisServer, key_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["replay", "--bus", redis_server.url, "--prefix", key_prefix, "--stream", "exec:x:y"]
    )
    assert code == cli.EXIT_OK, capsys.readouterr().err
