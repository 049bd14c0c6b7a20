"""Every password a bus URL can carry in its query is hidden, as the userinfo's is:
`ssl_password` (redis-py reads it from a `rediss://` URL: the client key's passphrase)
and any other key whose name holds "password", in any case, percent-encoded or not.
Before, only a key named exactly `password` was: `silvertine config`, error messages,
the header, the health stream and the last-run file showed `ssl_password=...` whole,
and the log did not know it as a secret. One redaction serves the config and the bus."""

from __future__ import annotations

import pytest

from silvertine_tui import cli
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import BusConfig, Settings, secret_values
from silvertine_tui.logsetup import redact, register_secret

PW = "KeyPassphrase99"

URLS = [
    f"rediss://127.0.0.1:1/0?ssl_password={PW}",
    f"rediss://h:6380/0?ssl_certfile=/c.pem&SSL_Password={PW}&ssl_keyfile=/k.pem",
    f"redis://h/0?PASSWORD={PW}",
    f"redis://h/0?pass%77ord={PW}",  # redis-py decodes the key: it is the password
    f"redis://h/0?db=1&password={PW}&x=1",
    f"unix:///tmp/s.sock?password={PW}",
    f"rediss://u:{PW}@h:6380/0?ssl_password={PW}",
]


@pytest.mark.parametrize("url", URLS)
def test_every_password_in_the_query_is_redacted(url: str) -> None:
    config = BusConfig(url=url)
    shown = config.redacted_url()
    assert PW not in shown
    assert "***" in shown
    assert RedisBus(url).url == shown  # the bus's (header, health, errors): the same rule
    assert PW not in repr(config)
    assert PW not in config.model_dump_json()
    assert PW in secret_values(Settings(bus=config))  # the log hides it too


def test_other_query_keys_are_kept() -> None:
    url = f"rediss://h:6380/0?ssl_certfile=/c.pem&ssl_password={PW}&db=2"
    assert BusConfig(url=url).redacted_url() == (
        "rediss://h:6380/0?ssl_certfile=/c.pem&ssl_password=***&db=2"
    )


def test_a_percent_encoded_query_password_is_registered_decoded_too() -> None:
    url = "redis://h/0?ssl_password=Key%26Pass99"
    found = secret_values(Settings(bus=BusConfig(url=url)))
    assert "Key&Pass99" in found
    register_secret("Key&Pass99")
    assert "Key&Pass99" not in redact("passphrase Key&Pass99 refused")


def test_config_and_an_unreachable_bus_never_show_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"rediss://127.0.0.1:1/0?ssl_password={PW}"
    assert cli.main(["config", "--bus", url]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "ssl_password=***" in out
    assert PW not in out
    assert cli.main(["replay", "--bus", url]) == cli.EXIT_BUS
    err = capsys.readouterr().err
    assert "ssl_password=***" in err
    assert PW not in err
