"""Configuration that read well and did something else, now refused or fixed at load:
an IB real-money account set `live: false` (shown PAPER, the live-only protections
off); `risk.brokers` limits under a name no broker has (never applied); an empty
`--bus ""` / `--prefix ""` (fell back without a word); a `SILVERTINE_*` variable
naming no setting (`SILVERTINE_BUS_URL`, ignored) or a field inside the brokers list
(`SILVERTINE_BROKERS__0__LIVE`, blamed on the config file); a bus URL scheme in
capitals (`MEMORY://`, crashed later); numbers under a secret name in a third-party
broker's section (`pin: 4711`, printed by `silvertine config`, not kept out of the
log)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from silvertine_tui.bus import MemoryBus
from silvertine_tui.cli import EXIT_CONFIG, EXIT_OK, main
from silvertine_tui.config import (
    ConfigError,
    ExternalBrokerConfig,
    Settings,
    load_settings,
    secret_values,
)
from silvertine_tui.engine import open_bus


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.lower().startswith("silvertine_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def problems(path: Path | None = None, **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(path, **overrides)
    return err.value.problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(text)
    return path


# -- an IB real-money account is live ------------------------------------------------------

IB = "brokers:\n  - {{name: ib, type: ib, account: {account}, port: 7496, live: {live}}}\n"


def test_an_ib_real_money_account_set_paper_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, IB.format(account="U7654321", live="false")))
    assert "brokers[0] (ib).live: account U7654321 is a real-money IB account" in problem
    assert "set live: true" in problem


@pytest.mark.parametrize(
    ("account", "live"), [("U7654321", "true"), ("DU1234567", "false"), ("DF99", "false")]
)
def test_live_real_money_and_paper_accounts_are_fine(
    tmp_path: Path, account: str, live: str
) -> None:
    settings = load_settings(write(tmp_path, IB.format(account=account, live=live)))
    assert settings.live is (live == "true")


# -- risk.brokers names a broker there is ---------------------------------------------------


def test_risk_limits_for_no_broker_are_refused_naming_the_brokers(tmp_path: Path) -> None:
    path = write(tmp_path, "risk:\n  brokers:\n    papr: {max_notional: 10}\n")
    (problem,) = problems(path)
    assert problem.startswith("risk: brokers.papr: no broker is named 'papr'")
    assert "did you mean 'paper'?" in problem
    assert "(the brokers: paper)" in problem


def test_risk_limits_for_a_broker_apply(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "risk:\n  brokers:\n    paper: {max_notional: 10}\n"))
    assert str(settings.risk.limits_for("paper", "BTCUSDT.PAPER").max_notional) == "10"


# -- empty command-line values --------------------------------------------------------------


@pytest.mark.parametrize(("option", "field"), [("--bus", "bus.url"), ("--prefix", "bus.prefix")])
def test_an_empty_option_is_refused_as_the_field_refuses_it(
    option: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", option, ""]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert f"{field} ({option}):" in captured.err
    assert captured.out == ""


# -- SILVERTINE_* variables -----------------------------------------------------------------


def test_a_variable_with_one_underscore_is_refused_with_its_spelling(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SILVERTINE_BUS_URL", "redis://127.0.0.1:6390/0")
    assert main(["config"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "SILVERTINE_BUS_URL names no setting" in err
    assert "(SILVERTINE_BUS__URL)" in err


def test_a_field_inside_the_brokers_list_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SILVERTINE_BROKERS__0__LIVE", "true")
    config = Path(__file__).resolve().parents[2] / "config" / "paper.yaml"
    assert main(["config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "SILVERTINE_BROKERS__0__LIVE: brokers is a list" in err
    assert "as JSON in SILVERTINE_BROKERS" in err
    assert "expected a list" not in err


def test_every_setting_spelt_right_passes_and_one_underscore_is_named() -> None:
    """Every field of every section, as an environment variable: none is refused; the
    same with one underscore between section and field is (named with its spelling)."""
    from silvertine_tui.config import environment_problems

    for section, info in Settings.model_fields.items():
        fields = getattr(info.annotation, "model_fields", {})
        for field in fields:
            good = f"SILVERTINE_{section.upper()}__{field.upper()}"
            assert environment_problems({good: "x"}) == [], good
            bad = f"SILVERTINE_{section.upper()}_{field.upper()}"
            (problem,) = environment_problems({bad: "x"})
            assert f"({good})" in problem
    documented = [
        "SILVERTINE_CONFIG",
        "SILVERTINE_BROKERS",
        "SILVERTINE_LOG__LEVELS__IB_ASYNC",
        "SILVERTINE_RISK__BROKERS__PAPER__MAX_NOTIONAL",
        "SILVERTINE_UI__KEYMAP__APP.HELP",
        "silvertine_ui__theme",
        "SILVERTINE_PROPERTY_EXAMPLES",  # the test suite's own: no setting's
    ]
    assert environment_problems(dict.fromkeys(documented, "x")) == []


def test_a_variable_of_another_tool_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILVERTINE_PROPERTY_EXAMPLES", "3")
    assert load_settings() == Settings()


# -- the bus URL's scheme -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["MEMORY://", "Memory://"])
def test_a_scheme_in_capitals_is_normalised_and_the_bus_opens(url: str) -> None:
    settings = load_settings(bus={"url": url})
    assert settings.bus.url == "memory://"
    assert isinstance(open_bus(settings.bus), MemoryBus)


def test_a_redis_scheme_in_capitals_is_normalised() -> None:
    assert load_settings(bus={"url": "REDIS://127.0.0.1:6390/0"}).bus.url == (
        "redis://127.0.0.1:6390/0"
    )


# -- numbers under secret names -------------------------------------------------------------

EXT = """
brokers:
  - {name: paper, type: paper}
  - name: acme
    type: acme
    enabled: false
    pin: 4711
    api_key: 123456789012
    auth_required: true
    rate: 1.5
    login: {user: bob, secret: 99887766}
    nested_credentials: {inner: {code: 55443322}}
"""


def test_numbers_under_secret_names_are_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EXT)
    settings = load_settings(path)
    acme = settings.brokers[1]
    assert isinstance(acme, ExternalBrokerConfig)
    extra = acme.model_extra or {}
    assert isinstance(extra["pin"], SecretStr)
    assert extra["pin"].get_secret_value() == "4711"
    assert extra["auth_required"] is True  # a flag is no secret
    assert extra["rate"] == 1.5  # nor a number under another name
    secrets = set(secret_values(settings))
    assert {"4711", "123456789012", "99887766", "55443322"} <= secrets
    assert main(["config", "--config", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    for value in ("4711", "123456789012", "99887766", "55443322"):
        assert value not in out
