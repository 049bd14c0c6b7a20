from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from silvertine_tui.config import (
    BinanceBrokerConfig,
    BusConfig,
    ConfigError,
    ExternalBrokerConfig,
    IBBrokerConfig,
    PaperBrokerConfig,
    Settings,
    expand_env_vars,
    format_config_error,
    load_settings,
    secret_values,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SECRET = "s3cr3t-Zebra-Quokka-91"
EXAMPLE_ENV = {
    "BINANCE_API_KEY": "key-" + SECRET,
    "BINANCE_API_SECRET": SECRET,
    "IB_ACCOUNT": "DU1234567",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SILVERTINE_") or name in {*EXAMPLE_ENV, "REDIS_PASSWORD"}:
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "silvertine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path | None = None, **overrides: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, **overrides)
    return info.value.problems


BINANCE_YAML = """
brokers:
  - name: paper
    type: paper
  - name: binance
    type: binance
    api_key: ${BINANCE_API_KEY}
    api_secret: ${BINANCE_API_SECRET}
"""


# --------------------------------------------------------------------------- defaults


def test_defaults_are_paper_and_memory() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.bus.url == "memory://"
    assert settings.bus.prefix == "silvertine"
    assert settings.bus.block_ms == 1000
    assert settings.bus.password is None
    [broker] = settings.brokers
    assert isinstance(broker, PaperBrokerConfig)
    assert (broker.name, broker.type, broker.account, broker.live) == (
        "paper",
        "paper",
        "main",
        False,
    )
    assert broker.starting_cash == {"USDT": Decimal("100000"), "USD": Decimal("100000")}
    assert settings.ui.confirm_notional == Decimal("10000")
    assert settings.log.level == "INFO"
    assert settings.enabled_brokers == settings.brokers
    assert settings.broker("paper") is broker


def test_default_log_file_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert Settings().log.file == tmp_path / "silvertine" / "silvertine.log"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")
    assert Settings().log.file == Path.home() / ".local/state/silvertine/silvertine.log"


def test_silvertine_config_env_var_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "ui:\n  theme: plain\n")
    monkeypatch.setenv("SILVERTINE_CONFIG", str(path))
    assert load_settings().ui.theme == "plain"
    # Settings() itself never reads a file.
    assert Settings().ui.theme == "silvertine-dark"


def test_empty_file_and_empty_section_mean_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing\n")) == Settings()
    assert load_settings(write(tmp_path, "ui:\n  # theme: x\n")) == Settings()


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("name", ["paper.yaml", "binance.yaml", "ib.yaml", "multi.yaml"])
def test_example_files_load(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(var, value)
    settings = load_settings(CONFIG_DIR / name)
    assert settings.brokers
    text = repr(settings) + str(settings)
    assert SECRET not in text


def test_paper_example_is_the_default() -> None:
    assert load_settings(CONFIG_DIR / "paper.yaml") == Settings()


def test_example_brokers(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(var, value)
    binance = load_settings(CONFIG_DIR / "binance.yaml")
    assert binance.bus.url.startswith("redis://")
    assert binance.bus.password is None  # ${REDIS_PASSWORD:-} with the variable unset
    bn = binance.broker("binance")
    assert isinstance(bn, BinanceBrokerConfig)
    assert bn.api_secret.get_secret_value() == SECRET
    assert bn.testnet
    assert not bn.live

    ib = load_settings(CONFIG_DIR / "ib.yaml").broker("ib")
    assert isinstance(ib, IBBrokerConfig)
    assert (ib.host, ib.port, ib.account) == ("127.0.0.1", 7497, "DU1234567")

    multi = load_settings(CONFIG_DIR / "multi.yaml")
    assert [type(b) for b in multi.brokers] == [
        PaperBrokerConfig,
        BinanceBrokerConfig,
        IBBrokerConfig,
    ]


def test_example_without_its_variables_names_them() -> None:
    problems = problems_of(CONFIG_DIR / "multi.yaml")
    assert "brokers[1].api_key: environment variable BINANCE_API_KEY is not set" in problems
    assert "brokers[1].api_secret: environment variable BINANCE_API_SECRET is not set" in problems
    assert "brokers[2].account: environment variable IB_ACCOUNT is not set" in problems


# --------------------------------------------------------------------------- priority


def test_env_beats_yaml_and_overrides_beat_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "bus:\n  url: redis://yaml-host:6379/0\n  prefix: fromyaml\n")
    assert load_settings(path).bus.url == "redis://yaml-host:6379/0"

    monkeypatch.setenv("SILVERTINE_BUS__URL", "redis://env-host:6379/0")
    monkeypatch.setenv("SILVERTINE_UI__FRAME_RATE", "30")
    settings = load_settings(path)
    assert settings.bus.url == "redis://env-host:6379/0"
    assert settings.bus.prefix == "fromyaml"  # the rest of the section still comes from YAML
    assert settings.ui.frame_rate == 30.0

    settings = load_settings(path, bus={"url": "unix:///run/redis.sock"})
    assert settings.bus.url == "unix:///run/redis.sock"
    assert settings.bus.prefix == "fromyaml"


def test_env_value_is_validated_like_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILVERTINE_LOG__LEVEL", "debug")
    assert load_settings().log.level == "DEBUG"
    monkeypatch.setenv("SILVERTINE_BUS__BLOCK_MS", "5000")
    assert problems_of() == ["bus.block_ms: input should be less than or equal to 2000"]


def test_env_json_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILVERTINE_BROKERS", '[{"name": "a", "type": "paper", "seed": 3}]')
    [broker] = load_settings().brokers
    assert isinstance(broker, PaperBrokerConfig)
    assert broker.seed == 3
    monkeypatch.setenv("SILVERTINE_BROKERS", '[{"name": ')
    [problem] = problems_of()
    assert problem.startswith("environment: ")
    assert "brokers" in problem


# --------------------------------------------------------------------------- ${VAR}


def test_env_var_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.setenv("IB_ACCOUNT", "DU42")
    path = write(
        tmp_path,
        """
bus:
  url: redis://${REDIS_HOST}:${REDIS_PORT:-6380}/0
  prefix: ${EMPTY:-fallback}
brokers:
  - name: ib
    type: ib
    account: ${IB_ACCOUNT}
    port: ${IB_PORT:-4002}
    symbols: [AAPL, "${SYM:-MSFT}"]
ui:
  theme: "price$${NOT_A_VAR} $HOME"
""",
    )
    settings = load_settings(path)
    assert settings.bus.url == "redis://cache.internal:6380/0"
    assert settings.bus.prefix == "fallback"
    ib = settings.broker("ib")
    assert isinstance(ib, IBBrokerConfig)
    assert (ib.account, ib.port, ib.symbols) == ("DU42", 4002, ["AAPL", "MSFT"])
    assert settings.ui.theme == "price${NOT_A_VAR} $HOME"


def test_expand_env_vars_leaves_keys_and_non_strings() -> None:
    data = {"${K}": [1, True, None, {"a": "x${V}y"}]}
    assert expand_env_vars(data, {"V": "-"}) == {"${K}": [1, True, None, {"a": "x-y"}]}


def test_missing_variable_names_variable_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, BINANCE_YAML)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    err = info.value
    assert err.problems == [
        "brokers[1].api_key: environment variable BINANCE_API_KEY is not set",
        "brokers[1].api_secret: environment variable BINANCE_API_SECRET is not set",
    ]
    assert err.path == path
    assert str(path) in str(err).splitlines()[0]


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "ui:\n  theme: ${1BAD}\n")
    assert problems_of(path) == [
        "ui.theme: malformed '${'; use ${NAME} or ${NAME:-default}",
    ]


# --------------------------------------------------------------------------- secrets


def test_secret_never_in_repr_str_or_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "key-" + SECRET)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    monkeypatch.setenv("SILVERTINE_BUS__PASSWORD", SECRET)
    path = write(tmp_path, f"bus:\n  url: redis://:{SECRET}@db:6379/0\n" + BINANCE_YAML)
    settings = load_settings(path)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert SECRET not in shown
    assert settings.bus.redacted_url() == "redis://:***@db:6379/0"
    assert settings.bus.password is not None
    assert settings.bus.password.get_secret_value() == SECRET
    assert settings.model_dump()["bus"]["url"] == f"redis://:{SECRET}@db:6379/0"

    # Invalid values next to the secrets: the messages name the fields, never the values.
    bad = write(
        tmp_path,
        f"bus:\n  url: http://:{SECRET}@db\n  block_ms: {SECRET}\n"
        "brokers:\n  - name: b\n    type: binance\n"
        f"    api_key: [{SECRET}]\n    api_secret: {{x: {SECRET}}}\n    recv_window_ms: {SECRET}\n",
        name="bad.yaml",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    text = str(info.value) + repr(info.value) + format_config_error(info.value)
    assert SECRET not in text
    assert "bus.url: scheme 'http' is not supported" in text
    assert "brokers[0].api_secret" in text
    assert "brokers[0].recv_window_ms" in text

    # Settings() raises pydantic's own error; it must not echo inputs either.
    with pytest.raises(ValidationError) as raw:
        Settings(bus={"block_ms": SECRET})
    assert SECRET not in str(raw.value)


def test_yaml_syntax_error_does_not_quote_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, f"bus:\n  password: {SECRET}\n  url: [unclosed\n")
    [problem] = problems_of(path)
    assert SECRET not in problem
    assert "line" in problem


def test_redacted_url() -> None:
    def redacted(url: str) -> str:
        return BusConfig(url=url).redacted_url()

    assert redacted("redis://:secret@host") == "redis://:***@host"
    assert redacted("rediss://user:pw@host:6380/1") == "rediss://user:***@host:6380/1"
    assert (
        redacted("redis://host:6379/0?password=pw&db=2") == "redis://host:6379/0?password=***&db=2"
    )
    assert redacted("unix://:pw@/run/redis.sock?db=0") == "unix://:***@/run/redis.sock?db=0"
    assert redacted("redis://user@host") == "redis://user@host"
    assert redacted("memory://") == "memory://"
    assert "pw" not in repr(BusConfig(url="redis://u:pw@host"))


# --------------------------------------------------------------------------- validation


def test_duplicate_broker_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brokers:\n  - {name: main, type: paper}\n  - {name: other, type: paper}\n"
        "  - {name: main, type: paper, seed: 9}\n",
    )
    [problem] = problems_of(path)
    assert problem.startswith("brokers: duplicate broker name 'main'")
    assert "brokers[0]" in problem
    assert "brokers[2]" in problem


def test_unknown_bus_scheme(tmp_path: Path) -> None:
    path = write(tmp_path, "bus:\n  url: http://localhost:6379\n")
    assert problems_of(path) == [
        "bus.url: scheme 'http' is not supported; use memory://, redis://, rediss:// or unix://"
    ]
    assert problems_of(bus={"url": "localhost:6379"})[0].startswith("bus.url: not a URL")


@pytest.mark.parametrize("cut", ["/", "?", "#"])
def test_a_bus_url_redis_cannot_read_is_refused_without_its_password(cut: str) -> None:
    """A password with `/`, `?` or `#` in the URL: `silvertine config` printed it whole
    (its redaction stopped at the `/`) and `run` died in redis-py with a traceback
    naming it ("Port could not be cast to integer value as 'SECRET...'")."""
    url = f"redis://:SECRET-CANARY{cut}xy@127.0.0.1:6379/0"
    [problem] = problems_of(bus={"url": url})
    assert problem.startswith("bus.url: cannot be read")
    assert "percent-encoded" in problem
    assert "SECRET" not in problem
    encoded = "redis://:SECRET-CANARY%2Fxy@127.0.0.1:6379/0"
    assert load_settings(bus={"url": encoded}).bus.redacted_url() == "redis://:***@127.0.0.1:6379/0"


def test_a_password_the_url_redaction_cannot_split_is_hidden_whole() -> None:
    bus = BusConfig.model_construct(url="redis://:SECRET/xy@127.0.0.1:6379/0")
    assert "SECRET" not in bus.redacted_url()


def test_env_overrides_expand_variables_as_the_file_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SILVERTINE_BUS__PASSWORD='${REDIS_PASSWORD}'` sent the text `${REDIS_PASSWORD}`
    as the password; an unset variable in a broker's key said nothing."""
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret")
    monkeypatch.setenv("SILVERTINE_BUS__PASSWORD", "${REDIS_PASSWORD}")
    password = load_settings().bus.password
    assert password is not None
    assert password.get_secret_value() == "s3cret"
    monkeypatch.setenv("SILVERTINE_BUS__PASSWORD", "${REDIS_PASSWORD_UNSET}")
    assert problems_of() == ["bus.password: environment variable REDIS_PASSWORD_UNSET is not set"]


def test_bus_prefix_rules() -> None:
    assert problems_of(bus={"prefix": ""}) == ["bus.prefix: must not be empty"]
    assert problems_of(bus={"prefix": "a b"}) == ["bus.prefix: must not contain spaces"]
    assert problems_of(bus={"prefix": "app:"}) == ["bus.prefix: must not start or end with ':'"]
    assert load_settings(bus={"prefix": "prod:silvertine"}).bus.prefix == "prod:silvertine"


def test_yaml_syntax_error_mentions_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bus:\n  url: memory://\n  prefix: [a, b\nui: {}\n")
    [problem] = problems_of(path)
    assert problem.startswith("YAML syntax error at line 4")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, "bus:\n  url: memory://\nbus:\n  url: redis://h\n")
    [problem] = problems_of(path)
    assert "line 3" in problem
    assert "duplicate key 'bus' (first at line 1)" in problem


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "lgo:\n  level: DEBUG\n")
    [problem] = problems_of(path)
    assert problem.startswith("lgo: unknown key; did you mean 'log'?")
    assert "bus" in problem


def test_unknown_key_inside_a_section(tmp_path: Path) -> None:
    path = write(tmp_path, "bus:\n  maxlen: 5\n")
    [problem] = problems_of(path)
    assert problem.startswith("bus.maxlen: unknown key")


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_settings(missing)
    assert info.value.problems == ["file not found"]
    assert str(missing) in str(info.value)

    [problem] = problems_of(write(tmp_path, "- a\n- b\n"))
    assert "top level must be a mapping" in problem
    assert "not a list" in problem


def test_third_party_broker_type_keeps_extra_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"brokers:\n  - name: acme1\n    type: acme\n    region: eu\n    api_token: {SECRET}\n"
        "    limits: {orders_per_s: 5}\n",
    )
    settings = load_settings(path)
    broker = settings.brokers[0]
    assert isinstance(broker, ExternalBrokerConfig)
    assert broker.type == "acme"
    assert broker.model_extra is not None
    assert broker.model_extra["region"] == "eu"
    assert broker.model_extra["limits"] == {"orders_per_s": 5}
    token = broker.model_extra["api_token"]
    assert isinstance(token, SecretStr)
    assert token.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_third_party_secrets_are_hidden_at_any_depth_and_under_more_names() -> None:
    """`credentials: {password: ...}` and `access_key` showed in a repr and a dump of
    the settings (only top-level fields named like `*secret*`, `api_key`... were
    hidden), and from there in `silvertine config` and any log of the settings."""
    settings = load_settings(
        brokers=[
            {
                "name": "acme",
                "type": "acme",
                "region": "eu",
                "credentials": {"password": "pw-CANARY-1", "user": "u-CANARY-2"},
                "access_key": "ak-CANARY-3",
                "auth": ["tok-CANARY-4"],
            }
        ]
    )
    shown = repr(settings) + settings.model_dump_json()
    for canary in ("pw-CANARY-1", "u-CANARY-2", "ak-CANARY-3", "tok-CANARY-4"):
        assert canary not in shown
    assert "eu" in shown  # what is not a secret stays as it is
    assert {"pw-CANARY-1", "ak-CANARY-3", "tok-CANARY-4"} <= set(secret_values(settings))


def test_builtin_type_with_wrong_case_is_not_third_party() -> None:
    brokers = [{"name": "b", "type": "Binance"}]
    assert problems_of(brokers=brokers) == [
        "brokers[0].type: unknown broker type 'Binance'; did you mean 'binance'?"
    ]


def test_paper_live_true_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "brokers:\n  - name: paper\n    type: paper\n    live: true\n")
    assert problems_of(path) == [
        "brokers[0].live: a paper broker is never live; remove 'live: true'"
    ]


def test_binance_mainnet_needs_live() -> None:
    base = {"name": "b", "type": "binance", "api_key": "k", "api_secret": "s"}
    [problem] = problems_of(brokers=[{**base, "testnet": False}])
    assert problem.startswith("brokers[0]: testnet: false trades real money")
    [problem] = problems_of(brokers=[{**base, "live": True}])
    assert problem.startswith("brokers[0]: live: true needs testnet: false")
    broker = load_settings(brokers=[{**base, "testnet": False, "live": True}]).brokers[0]
    assert broker.live


def test_broker_field_errors_have_paths() -> None:
    brokers = [
        {"name": "ib", "type": "ib", "port": 0},
        {"name": "bad name", "type": "paper", "starting_cash": {"USD": "-1"}},
        {"name": "bn", "type": "binance", "api_key": "", "api_secret": "x"},
        "paper",
    ]
    problems = problems_of(brokers=brokers)
    assert "brokers[0].account: is required" in problems
    assert "brokers[0].port: input should be greater than or equal to 1" in problems
    assert any(p.startswith("brokers[1].name: must start with a letter") for p in problems)
    assert "brokers[1].starting_cash: must not be negative (USD)" in problems
    assert "brokers[2].api_key: must not be empty" in problems
    assert "brokers[3]: expected a mapping" in problems


def test_no_brokers_is_an_error() -> None:
    assert problems_of(brokers=[]) == ["brokers: at least one broker is required"]


def test_decimals_from_yaml_keep_their_digits(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brokers:\n  - name: p\n    type: paper\n    starting_cash: {USD: 1234.10, EUR: '0.1'}\n"
        "ui:\n  confirm_notional: 2500.5\n",
    )
    settings = load_settings(path)
    broker = settings.brokers[0]
    assert isinstance(broker, PaperBrokerConfig)
    assert broker.starting_cash == {"USD": Decimal("1234.1"), "EUR": Decimal("0.1")}
    assert settings.ui.confirm_notional == Decimal("2500.5")


def test_model_instances_can_be_passed() -> None:
    paper = PaperBrokerConfig(name="sim", seed=1)
    ext = ExternalBrokerConfig(name="x", type="acme")
    settings = load_settings(brokers=[paper, ext])
    assert settings.brokers == [paper, ext]


def test_format_config_error() -> None:
    err = ConfigError(["bus.url: bad", "ui.theme: bad"], Path("conf.yaml"))
    assert str(err) == "invalid configuration in conf.yaml:\n  bus.url: bad\n  ui.theme: bad"
    text = format_config_error(err)
    assert text.splitlines()[:3] == [
        "silvertine: invalid configuration in conf.yaml (2 problems)",
        "  - bus.url: bad",
        "  - ui.theme: bad",
    ]


PAPER_ON_BINANCE = """
brokers:
  - name: paper
    type: paper
    symbols: [BTCUSDT]
    market: {{source: binance{paper_testnet}}}
  - name: binance
    type: binance
    api_key: k
    api_secret: s
    symbols: [BTCUSDT]
{binance_network}"""


@pytest.mark.parametrize(
    ("paper_testnet", "binance_network", "refused"),
    [
        ("", "", True),  # the real market's prices beside a testnet account
        (", testnet: true", "", False),
        ("", "    testnet: false\n    live: true\n", False),
        ("", "    enabled: false\n", False),
    ],
)
def test_binance_instruments_from_one_network(
    tmp_path: Path, paper_testnet: str, binance_network: str, refused: bool
) -> None:
    """One mark per instrument key: two networks' prices for BTCUSDT.BINANCE would
    value and price-check each broker's orders at the other's prices."""
    text = PAPER_ON_BINANCE.format(paper_testnet=paper_testnet, binance_network=binance_network)
    path = write(tmp_path, text)
    if not refused:
        assert len(load_settings(path).brokers) == 2
        return
    [problem] = problems_of(path)
    assert problem.startswith(
        "brokers: brokers[0] (paper, market.testnet: false) and brokers[1] (binance, "
        "testnet: true) quote Binance's instruments from different networks"
    )
    assert "Use the same network for both, or disable one" in problem


def test_two_binance_accounts_on_two_networks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brokers:\n"
        "  - {name: live, type: binance, api_key: a, api_secret: b, testnet: false, live: true}\n"
        "  - {name: test, type: binance, api_key: c, api_secret: d}\n",
    )
    [problem] = problems_of(path)
    assert "brokers[0] (live, testnet: false) and brokers[1] (test, testnet: true)" in problem


def test_paper_brokers_quoting_one_symbol_from_two_markets(tmp_path: Path) -> None:
    """Every paper broker quotes SYMBOL.PAPER: two that simulate different markets
    flipped the desk's one mark between their prices."""
    same = write(
        tmp_path,
        "brokers:\n  - {name: a, type: paper, seed: 3}\n  - {name: b, type: paper, seed: 3}\n",
    )
    assert len(load_settings(same).brokers) == 2
    apart = write(
        tmp_path,
        "brokers:\n  - {name: a, type: paper, symbols: [BTCUSDT]}\n"
        "  - {name: b, type: paper, symbols: [ETHUSDT], seed: 9}\n",
        name="apart.yaml",
    )
    assert len(load_settings(apart).brokers) == 2
    for other in ("seed: 9", "market: {symbols: {BTCUSDT: {start_mid: '30000'}}}"):
        path = write(
            tmp_path,
            f"brokers:\n  - {{name: a, type: paper}}\n  - {{name: b, type: paper, {other}}}\n",
            name="two.yaml",
        )
        [problem] = problems_of(path)
        assert problem.startswith(
            "brokers: brokers[0] (a) and brokers[1] (b) both quote BTCUSDT.PAPER from "
            "paper markets with different settings"
        )
    disabled = write(
        tmp_path,
        "brokers:\n  - {name: a, type: paper}\n  - {name: b, type: paper, seed: 9, "
        "enabled: false}\n",
        name="off.yaml",
    )
    assert len(load_settings(disabled).brokers) == 2
