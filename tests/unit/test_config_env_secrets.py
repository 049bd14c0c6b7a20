"""A third-party broker's section: every value a `${VAR}` was expanded into is a
secret, whatever its field's name, and so are fields named `pwd`, `passcode`...

Before, only names matching a pattern (`*password*`, `*token*`, `*_key`...) were: a
`pwd: ${ACME_PWD}` or `passcode: ${ACME_PASSCODE}` was printed in clear by
`silvertine config` and never registered with the log's redactor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from silvertine_tui import cli
from silvertine_tui.config import ExternalBrokerConfig, load_settings, secret_values

ENV = {
    "ACME_PWD": "pwd-CANARY-1111",
    "ACME_PASSCODE": "pc-CANARY-2222",
    "ACME_LOGIN": "login-CANARY-3333",
    "ACME_TOKEN": "tok-CANARY-4444",
}
CONFIG = """
brokers:
  - name: paper
    type: paper
  - name: acme
    type: acme
    enabled: false
    region: eu
    pwd: ${ACME_PWD}
    passcode: ${ACME_PASSCODE}
    api_token: ${ACME_TOKEN}
    session: {login: "${ACME_LOGIN}", region: eu}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SILVERTINE_"):
            monkeypatch.delenv(name)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "desk.yaml"
    path.write_text(CONFIG)
    return path


def test_silvertine_config_hides_every_expanded_value(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["config", "-c", str(config)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    for value in ENV.values():
        assert value not in out, out
    assert '"region": "eu"' in out  # written in the file: not a secret


def test_they_are_secrets_of_the_settings_for_the_log(config: Path) -> None:
    settings = load_settings(config)
    broker = settings.brokers[1]
    assert isinstance(broker, ExternalBrokerConfig)
    extra = broker.model_extra or {}
    assert isinstance(extra["pwd"], SecretStr)
    assert extra["pwd"].get_secret_value() == ENV["ACME_PWD"]
    assert isinstance(extra["session"]["login"], SecretStr)
    assert extra["region"] == "eu"
    assert set(ENV.values()) <= set(secret_values(settings))
    assert not any(value in repr(settings) for value in ENV.values())


def test_the_environment_overrides_expand_the_same_way(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SILVERTINE_BROKERS",
        '[{"name": "paper", "type": "paper"}, '
        '{"name": "acme", "type": "acme", "enabled": false, "pwd": "${ACME_PWD}"}]',
    )
    settings = load_settings()
    assert ENV["ACME_PWD"] in secret_values(settings)
    assert ENV["ACME_PWD"] not in settings.model_dump_json()


def test_more_secret_names_without_a_variable() -> None:
    """Written in the file itself (they should not be), still hidden by their name."""
    settings = load_settings(
        brokers=[{"name": "acme", "type": "acme", "pwd": "a-CANARY", "passcode": "b-CANARY"}]
    )
    assert "CANARY" not in settings.model_dump_json()
    assert {"a-CANARY", "b-CANARY"} <= set(secret_values(settings))
