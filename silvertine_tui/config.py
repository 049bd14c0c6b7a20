"""Settings: pydantic models, a YAML file with ``${ENV}`` references, and the environment.

:func:`load_settings` builds them. Priority, highest first: its keyword overrides,
``SILVERTINE_*`` environment variables (``SILVERTINE_BUS__URL=...``), the YAML file, the
defaults. :class:`Settings` is the one model of them all; ``Settings(...)`` itself is the
defaults and what is passed (no file, no environment): ``Settings()`` is a working paper +
memory setup.

The file and the environment are read by pydantic-settings and PyYAML
(``config_sources.py``), imported only when there is a file or a ``SILVERTINE_*``
variable: the default start (no file, no variable) validates the overrides with
:class:`Settings` alone, which is what pydantic-settings would do with no other source.

To add a section (for example ``risk``): define a ``_Section`` subclass with defaults for
every field and add ``risk: RiskConfig = Field(default_factory=RiskConfig)`` to
:class:`Settings`. Environment overrides, YAML loading and error paths follow by themselves.

Secrets never reach an error message or a repr: secret fields are ``SecretStr``, every model
hides inputs in pydantic's own messages, and :class:`ConfigError` is built from the error
location and rule only.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from .domain import TradingState
from .domain.redaction import redact_url, url_secrets, userinfo_problem

__all__ = [
    "BinanceBrokerConfig",
    "BrokerConfig",
    "BrokerConfigBase",
    "BusConfig",
    "ConfigError",
    "ExternalBrokerConfig",
    "IBBrokerConfig",
    "LogConfig",
    "PaperBrokerConfig",
    "Settings",
    "UIConfig",
    "config_file",
    "expand_env_vars",
    "format_config_error",
    "load_settings",
    "read_config_file",
    "state_home",
]

CONFIG_ENV_VAR = "SILVERTINE_CONFIG"
ENV_PREFIX = "SILVERTINE_"
BUS_SCHEMES = ("memory", "redis", "rediss", "unix")
_SCHEMES_HINT = "use memory://, redis://, rediss:// or unix://"

# Names and accounts end up inside stream keys (`…:exec:{broker}:{account}`).
_KEY_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KEY_PART_RULE = "must start with a letter or digit and use only letters, digits, '_', '.', '-'"
# Extra fields of third-party broker sections with these names are wrapped in SecretStr
# (so is every value a `${VAR}` was expanded into: `_FromEnv`).
_SECRET_NAME_RE = re.compile(
    r"secret|pass(word|wd|phrase|code|key)|pass$|pwd|token|key$|_key|credential|auth|pin$"
    r"|otp$|private|cookie",
    re.I,
)


class _FromEnv(str):
    """A string a `${VAR}` was expanded into (`expand_env_vars`). In a third-party
    broker's section it is a secret whatever its field's name (`_hidden`): only secrets
    belong in the environment, and a `pwd: ${ACME_PWD}` was printed by `silvertine
    config` and never kept out of the log. Typed fields of the models hold plain `str`
    (pydantic makes one of it)."""

    __slots__ = ()


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` are short lines a person can act on."""

    def __init__(self, problems: Sequence[str], path: Path | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.path: Path | None = path
        super().__init__(self.problems, path)

    @property
    def header(self) -> str:
        if self.path is None:
            return "invalid configuration (defaults and environment, no config file):"
        return f"invalid configuration in {self.path}:"

    def __str__(self) -> str:
        return "\n".join([self.header, *(f"  {p}" for p in self.problems)])

    @classmethod
    def from_validation_error(cls, exc: ValidationError, path: Path | None = None) -> ConfigError:
        return cls(_validation_problems(exc), path)


def format_config_error(err: ConfigError) -> str:
    """The text the CLI prints (to stderr) before exiting with code 2."""
    count = len(err.problems)
    noun = "problem" if count == 1 else "problems"
    lines = [f"silvertine: {err.header[:-1]} ({count} {noun})"]
    lines += [f"  - {p}" for p in err.problems]
    lines.append("See config/paper.yaml for a commented example of every section.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- models


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


def _key_part(value: str) -> str:
    if not _KEY_PART_RE.fullmatch(value):
        raise ValueError(_KEY_PART_RULE)
    return value


def _nonempty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


def _url_with_scheme(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    scheme = urlsplit(value).scheme.lower()
    if scheme not in schemes:
        accepted = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"scheme {scheme!r} is not supported; use {accepted}")
    return value


def _symbols(value: list[str]) -> list[str]:
    cleaned = [s.strip() for s in value]
    if any(not s for s in cleaned):
        raise ValueError("symbols must not be empty strings")
    return cleaned


class BusConfig(_Section):
    url: str = "memory://"
    prefix: str = "silvertine"
    md_maxlen: int = Field(100_000, gt=0)
    health_maxlen: int = Field(10_000, gt=0)
    # Streams with an end (docs/architecture.md, stream layout): signals `MAXLEN ~`,
    # snapshots the last few exactly, the risk stream its newest `risk_keep` entries
    # (trimmed by the session after writing the current trading state, so the newest
    # entry always holds it).
    signal_maxlen: int = Field(100_000, gt=0)
    snapshot_keep: int = Field(10, gt=0)
    risk_keep: int = Field(100_000, ge=100)
    journal_retention_s: int = Field(7 * 86_400, gt=0)
    # Execution events held in memory while Redis is unreachable; bounded on purpose.
    exec_buffer: int = Field(10_000, gt=0)
    md_flush_interval_ms: float = Field(0.0, ge=0)
    block_ms: int = Field(1000, ge=1, le=2000)
    password: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep or not scheme:
            raise ValueError(f"not a URL with a scheme; {_SCHEMES_HINT}")
        if scheme.lower() not in BUS_SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not supported; {_SCHEMES_HINT}")
        # A scheme is case-insensitive (RFC 3986); the bus picks its backend by the
        # lower-case one (`MEMORY://` passed here and then failed to open).
        value = f"{scheme.lower()}://{rest}"
        if scheme.lower() == "memory":
            return value
        parts = _redis_url_parts(value)
        if parts is None:
            # Never the URL in the message: it may hold a password.
            raise ValueError(
                "cannot be read (its host, port or database); a password in it with "
                "/ ? # or @ must be percent-encoded (%2F %3F %23 %40), or set "
                "bus.password instead"
            )
        if userinfo_problem(value) or _host_is_not_the_written_one(value, parts):
            # redis-py reads `redis://:Zx@localhost:1/q@10.9.9.9:6379/0` as password
            # `Zx`, host `localhost`: the rest of the password went out as a host name
            # (a DNS query) and into "cannot reach Redis at localhost:1" errors.
            raise ValueError(
                "a user name or password in it holds / ? # or a second @, which must be "
                "percent-encoded (%2F %3F %23 %40), or set bus.password instead: "
                "redis-py would end the password at the first of them and connect to "
                "the rest of it as a host"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        if any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        if value.startswith(":") or value.endswith(":"):
            raise ValueError("must not start or end with ':'")
        return value

    @field_validator("password")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        # So that `password: ${REDIS_PASSWORD:-}` means "no password" when unset.
        return value if value is not None and value.get_secret_value() else None

    def redacted_url(self) -> str:
        """The URL with every password in it replaced by ``***`` (the userinfo's,
        ``?password=``, ``?ssl_password=``...): `domain.redaction.redact_url`, the rule
        the bus shows its URL by too."""
        return redact_url(self.url)

    # Like SecretStr: JSON dumps (logs, snapshots) show the redacted URL.
    @field_serializer("url", when_used="json")
    def _serialize_url(self, value: str) -> str:
        return self.redacted_url()

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, (self.redacted_url() if name == "url" else value)


class BrokerConfigBase(_Section):
    """Fields every broker section has. ``type`` picks the model, see :data:`BrokerConfig`."""

    name: str
    type: str
    account: str = "main"
    enabled: bool = True
    # True when this broker trades real money; drives the PAPER/LIVE marker.
    live: bool = False

    _check_name = field_validator("name", "account")(_key_part)


class PaperSymbolConfig(_Section):
    """Per-symbol overrides of the simulator's built-in instrument table (unset: the table).

    Symbols missing from the table get a default: ``*USDT`` is spot crypto (tick 0.01, lot
    0.001, min notional 5 USDT), anything else a US equity (tick 0.01, lot 1, USD).
    """

    # Instrument rules, as the venue would publish them.
    tick_size: Decimal | None = Field(None, gt=0)
    lot_size: Decimal | None = Field(None, gt=0)
    min_qty: Decimal | None = Field(None, ge=0)
    min_notional: Decimal | None = Field(None, ge=0)
    quote_currency: str | None = Field(None, min_length=1, max_length=12)
    base_currency: str | None = Field(None, max_length=12)
    # Synthetic market: first mid price, annualised volatility of the random walk (0.6 is
    # 60 %/year), quoted spread in basis points (at least one tick), size of the best level.
    start_mid: Decimal | None = Field(None, gt=0)
    volatility: float | None = Field(None, ge=0, le=5)
    spread_bps: float | None = Field(None, ge=0, le=1000)
    level_size: Decimal | None = Field(None, gt=0)
    # Traded volume per day (base units), the V of the square-root impact model.
    daily_volume: Decimal | None = Field(None, gt=0)


class PaperMarketConfig(_Section):
    """Where the simulator's prices come from and what its L2 book looks like."""

    # synthetic: a seeded random walk per symbol. external: books fed by another adapter
    # through PaperBroker.on_market_data (no random walk runs). binance: Binance spot's
    # public market streams (no API key; orders stay in the simulator).
    source: Literal["synthetic", "external", "binance"] = "synthetic"
    # source binance only: the testnet's prices instead of the real market's, and endpoint
    # overrides (a local server; None: python-binance's own hosts).
    testnet: bool = False
    rest_url: str | None = None
    stream_url: str | None = None
    # Move the synthetic market on a timer while connected; false: only PaperBroker.step().
    autorun: bool = True
    # Time step of the random walk and of the book updates (milliseconds).
    tick_interval_ms: int = Field(100, ge=1, le=60_000)
    # Price levels shown per side, their spacing (basis points, at least one tick), how
    # much bigger each deeper level is (0.25: +25 % per level) and the random size noise.
    depth_levels: int = Field(10, ge=1, le=100)
    level_step_bps: float = Field(0.5, gt=0, le=1000)
    size_growth: float = Field(0.25, ge=0, le=10)
    size_jitter: float = Field(0.3, ge=0, le=2)
    # DAY orders expire at the next HH:MM UTC after they were placed.
    day_end_utc: str = Field("00:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    symbols: dict[str, PaperSymbolConfig] = Field(default_factory=dict)

    @field_validator("rest_url")
    @classmethod
    def _check_rest_url(cls, value: str | None) -> str | None:
        return _url_with_scheme(value, ("http", "https"))

    @field_validator("stream_url")
    @classmethod
    def _check_stream_url(cls, value: str | None) -> str | None:
        return _url_with_scheme(value, ("ws", "wss"))

    @model_validator(mode="after")
    def _venue_settings_need_a_venue(self) -> PaperMarketConfig:
        if self.source != "binance":
            used = [n for n in ("rest_url", "stream_url") if getattr(self, n) is not None]
            if self.testnet:
                used.append("testnet")
            if used:
                raise ValueError(
                    f"{', '.join(used)} only apply to source: binance (source is "
                    f"{self.source}); remove them or set source: binance"
                )
        return self


class PaperFillConfig(_Section):
    """How orders fill beyond walking the displayed book (see docs/paper-simulator.md)."""

    # through: a resting limit fills only when the market trades through its price.
    # queue: it may also fill at its price, once the size displayed ahead of it has gone.
    resting: Literal["through", "queue"] = "through"
    # Extra cost on taker fills, on top of the book walk: none, fixed_ticks, bps (a
    # percentage of the price) or sqrt_impact (coefficient * daily vol * sqrt(qty / V)).
    slippage: Literal["none", "fixed_ticks", "bps", "sqrt_impact"] = "none"
    slippage_ticks: int = Field(1, ge=0, le=10_000)
    slippage_bps: Decimal = Field(Decimal("5"), ge=0, le=1000)
    impact_coefficient: Decimal = Field(Decimal("1"), ge=0, le=100)


class PaperLatencyConfig(_Section):
    """Delays of the simulated venue: fixed part plus a seeded uniform jitter in [0, jitter]."""

    enabled: bool = True
    # Order (and replace) to acknowledgement.
    ack_ms: float = Field(20.0, ge=0, le=60_000)
    # Execution at the venue to the fill report.
    fill_ms: float = Field(5.0, ge=0, le=60_000)
    # Cancel request to cancel confirmation (the order can still fill meanwhile).
    cancel_ms: float = Field(20.0, ge=0, le=60_000)
    jitter_ms: float = Field(5.0, ge=0, le=60_000)


class PaperFeesConfig(_Section):
    """Fees in basis points of the notional (rounded up), charged in the quote currency,
    or (`currency: base`) a buy's fee in the base asset it receives, as a spot venue
    charges it: buying 3 ETH with a 10 bps fee leaves 2.997 ETH and takes no cash for
    the fee. A sell always pays in the quote currency it receives."""

    maker_bps: Decimal = Field(Decimal("8"), ge=-10, le=500)  # negative: a rebate
    taker_bps: Decimal = Field(Decimal("10"), ge=0, le=500)
    currency: Literal["quote", "base"] = "quote"


class PaperChecksConfig(_Section):
    """Account checks done by the simulated venue before accepting an order."""

    # Buying power = (cash + positions at cost) * leverage - positions at cost - what
    # open orders reserve (1: a cash account).
    leverage: Decimal = Field(Decimal("1"), ge=1, le=100)
    # false: a sell needs the position (spot); true: shorts allowed, margined like buys
    # (a filled short keeps its proceeds and its margin reserved).
    short_selling: bool = False
    # Working orders per instrument (Binance allows 200).
    max_open_orders: int = Field(200, ge=1, le=100_000)


class PaperRetentionConfig(_Section):
    """How long the simulated venue remembers finished orders (FILLED, CANCELED, EXPIRED).

    Working orders always stay. Of the finished ones the venue keeps the newest
    `finished_orders`, none finished more than `finished_minutes` ago (0: no age limit),
    as a real venue archives old orders: asked about an archived order it answers
    "unknown order", and a restart rebuilds only the working orders and this window.
    """

    finished_orders: int = Field(1_000, ge=1, le=1_000_000)
    finished_minutes: float = Field(0.0, ge=0, le=525_600)


class PaperFaultsConfig(_Section):
    """Report faults a real venue shows, for testing consumers (all off by default)."""

    # Probability that an order report or fill is sent twice.
    duplicate_reports: float = Field(0.0, ge=0, le=1)
    # Probability that an order's previous report is sent again after a newer one.
    late_reports: float = Field(0.0, ge=0, le=1)


class PaperBrokerConfig(BrokerConfigBase):
    type: Literal["paper"] = "paper"
    seed: int = 7
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "AAPL"])
    starting_cash: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal("100000"), "USD": Decimal("100000")}
    )
    # The simulator (docs/paper-simulator.md); every field has a default.
    market: PaperMarketConfig = Field(default_factory=PaperMarketConfig)
    fill: PaperFillConfig = Field(default_factory=PaperFillConfig)
    latency: PaperLatencyConfig = Field(default_factory=PaperLatencyConfig)
    fees: PaperFeesConfig = Field(default_factory=PaperFeesConfig)
    checks: PaperChecksConfig = Field(default_factory=PaperChecksConfig)
    faults: PaperFaultsConfig = Field(default_factory=PaperFaultsConfig)
    retention: PaperRetentionConfig = Field(default_factory=PaperRetentionConfig)

    _check_symbols = field_validator("symbols")(_symbols)

    @field_validator("live")
    @classmethod
    def _never_live(cls, value: bool) -> bool:
        if value:
            raise ValueError("a paper broker is never live; remove 'live: true'")
        return value

    @field_validator("starting_cash")
    @classmethod
    def _non_negative_cash(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        negative = sorted(ccy for ccy, amount in value.items() if amount < 0)
        if negative:
            raise ValueError(f"must not be negative ({', '.join(negative)})")
        return value

    @model_validator(mode="after")
    def _overrides_for_known_symbols(self) -> PaperBrokerConfig:
        unknown = sorted(set(self.market.symbols) - set(self.symbols))
        if unknown:
            raise ValueError(
                f"market.symbols has settings for {', '.join(unknown)}, which is not in"
                " symbols; add it to symbols or remove its settings"
            )
        return self


class BinanceBrokerConfig(BrokerConfigBase):
    type: Literal["binance"] = "binance"
    api_key: SecretStr
    api_secret: SecretStr
    testnet: bool = True
    # Endpoint overrides (a local fake server in tests); None means the library default.
    rest_url: str | None = None
    ws_api_url: str | None = None
    stream_url: str | None = None
    symbols: list[str] = Field(default_factory=list)
    recv_window_ms: int = Field(5000, ge=1, le=60_000)
    # Binance's request-weight limit per minute for this IP (exchangeInfo rateLimits).
    weight_limit_1m: int = Field(6000, ge=1, le=1_000_000)
    # Binance's new-order limit per 10 s for this account; beyond it orders are refused here.
    order_count_limit_10s: int = Field(100, ge=1, le=100_000)
    # Share of weight_limit_1m at which reads (queries, polling) wait for the next minute;
    # the rest of the minute is kept for orders and cancels.
    throttle_at: float = Field(0.9, gt=0, le=1)
    # Seconds a REST call may take; a new order without an answer by then has an unknown
    # outcome and is looked up, never sent again.
    request_timeout_s: float = Field(10.0, gt=0, le=120)
    # true: no new order while the user-data stream (order reports, fills) is down.
    # false: orders go out on REST alone and their reports arrive when it is back.
    orders_need_user_stream: bool = True
    # Seconds with no message at all on the market socket before the market link is
    # DEGRADED ("no market data for N s") and the socket rebuilt (subscriptions dead at
    # the venue while its pings are answered). A traded symbol's miniTicker pushes about
    # once a second.
    market_silence_s: float = 30.0

    _check_secrets = field_validator("api_key", "api_secret")(_nonempty_secret)
    _check_symbols = field_validator("symbols")(_symbols)

    @field_validator("market_silence_s")
    @classmethod
    def _check_market_silence(cls, value: float) -> float:
        if not 0 < value < float("inf"):  # (NaN too)
            raise ValueError(
                f"market_silence_s must be a number of seconds above 0 (got {value:g}): "
                "how long the market socket may say nothing before it is rebuilt"
            )
        return value

    @field_validator("rest_url")
    @classmethod
    def _check_rest_url(cls, value: str | None) -> str | None:
        return _url_with_scheme(value, ("http", "https"))

    @field_validator("ws_api_url", "stream_url")
    @classmethod
    def _check_ws_url(cls, value: str | None) -> str | None:
        return _url_with_scheme(value, ("ws", "wss"))

    @model_validator(mode="after")
    def _live_matches_testnet(self) -> BinanceBrokerConfig:
        # Mainnet is real money: it must be asked for twice (testnet: false and live: true),
        # and a testnet account must not be shown as LIVE.
        if not self.testnet and not self.live:
            raise ValueError("testnet: false trades real money on Binance; also set live: true")
        if self.testnet and self.live:
            raise ValueError("live: true needs testnet: false (testnet is not real money)")
        return self


class IBBrokerConfig(BrokerConfigBase):
    """Interactive Brokers through TWS or IB Gateway (docs/operations.md, IB section)."""

    type: Literal["ib"] = "ib"
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(7497, ge=1, le=65_535)
    client_id: int = Field(1, ge=0)
    # Client ids tried in order when TWS answers 326 (the id is in use, e.g. a stale
    # session after a crash). Empty: say so and keep retrying `client_id`.
    client_id_fallbacks: list[int] = Field(default_factory=list)
    account: str
    # Instrument keys SYMBOL.VENUE (`AAPL.SMART`, `ESZ6.CME`, `EUR.USD.IDEALPRO`); a bare
    # symbol means `SYMBOL.<default_venue>`.
    symbols: list[str] = Field(default_factory=list)
    default_venue: str = Field("SMART", min_length=1)
    connect_timeout_s: float = Field(10, gt=0)
    # live: real-time (needs the subscription); frozen: the last real-time values when the
    # market is closed; delayed / delayed_frozen: 15-20 minutes late, no subscription.
    market_data_type: Literal["live", "frozen", "delayed", "delayed_frozen"] = "live"
    # Let orders (limit and stop kinds) work and trigger outside regular trading hours.
    outside_rth: bool = False
    # Seconds to wait for TWS to acknowledge an order, a modify or a cancel. No answer:
    # the order's fate is asked of TWS (never re-sent blindly).
    order_timeout_s: float = Field(5, gt=0, le=120)
    # How long a fill waits for its commission report before it is journaled without the
    # fee (the fee then follows as a fee correction).
    commission_wait_s: float = Field(2, ge=0, le=60)
    # Backoff of reconnect attempts after the socket to TWS is lost (doubling, capped).
    reconnect_delay_s: float = Field(1, gt=0, le=300)
    reconnect_max_delay_s: float = Field(30, gt=0, le=3600)
    # Wait after a pacing violation (162, 420, 100) before the request is tried again.
    pacing_delay_s: float = Field(1, ge=0, le=300)
    # Seconds to wait for an answer to a request (contract details, executions, ...).
    request_timeout_s: float = Field(10, gt=0, le=300)
    # TWS reports fills live only to the client id that placed the order: orders placed
    # under another client id (before a restart, or adopted on reconcile) are followed
    # by asking this often, while any works.
    other_clients_poll_s: float = Field(5, gt=0, le=3600)
    # TWS is asked its time this often; no answer within `answer_timeout_s` sets the api
    # link DEGRADED (orders refused: a hung TWS would take them and act on them when it
    # wakes, at other prices) until it answers. 0: not asked. The socket alone never
    # tells a hung TWS: it stays open.
    watchdog_s: float = Field(5, ge=0, le=300)
    answer_timeout_s: float = Field(5, gt=0, le=300)
    # A TWS that has not answered for this long (seconds since the first question it
    # left unanswered) is taken for hung for good: the socket is dropped and the desk
    # reconnects (rebuild, reconcile, quotes asked again). A TWS frozen for less (a
    # modal dialog, a stop of 20 s) answers again on the same socket. 0: never dropped.
    # (ib_async's own Watchdog restarts TWS after 20 s idle and a 4 s probe.)
    unanswered_reconnect_s: float = Field(60, ge=0, le=3600)

    _check_symbols = field_validator("symbols")(_symbols)

    @field_validator("client_id_fallbacks")
    @classmethod
    def _fallback_ids(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError("client ids are 0 or more")
        return value

    @field_validator("default_venue")
    @classmethod
    def _venue_word(cls, value: str) -> str:
        if any(c.isspace() or c == "." for c in value):
            raise ValueError("must be one word without dots or spaces (e.g. SMART)")
        return value


class ExternalBrokerConfig(BrokerConfigBase):
    """A third-party adapter's section (``silvertine.brokers`` entry point named ``type``).

    Unknown fields are kept in ``model_extra`` for the adapter. Values (strings and
    numbers) whose name looks secret (``*secret*``, ``*password*``, ``*passcode*``,
    ``*pwd*``, ``*token*``, ``*_key``, ``*credential*``, ``*auth*``, ``pin`` ...), and
    every string a ``${VAR}`` was expanded into,
    whatever its name, at any depth, are wrapped in ``SecretStr``: they never show in a
    repr or in `silvertine config`, and the log is given them (`secret_values`).
    """

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value):
            raise ValueError("must be a non-empty name without spaces")
        if value.lower() in _BUILTIN_BROKERS:
            raise ValueError(f"unknown broker type {value!r}; did you mean {value.lower()!r}?")
        return value

    @model_validator(mode="after")
    def _hide_secrets(self) -> ExternalBrokerConfig:
        extra = self.__pydantic_extra__ or {}
        for key, value in extra.items():
            extra[key] = _hidden(key, value)
        return self


def _hidden(name: str, value: Any, secret: bool = False) -> Any:
    """`value` with every scalar under a secret-looking name wrapped in `SecretStr`
    (as its text), at any depth (`credentials: {password: ...}`: only the top level
    was, and the nested one showed in a repr and a dump); every scalar under such a
    name is one, a number too (`pin: 4711`, `api_key: 123456789012` were printed by
    `silvertine config` and never kept out of the log), and so is every string a
    `${VAR}` was expanded into (`_FromEnv`), whatever its name. A flag (`true`) or an
    empty value is no secret: it stays as it is."""
    secret = secret or bool(_SECRET_NAME_RE.search(name))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str | int | float | Decimal):
        return SecretStr(str(value)) if secret or isinstance(value, _FromEnv) else value
    if isinstance(value, dict):
        return {k: _hidden(str(k), v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(name, v, secret) for v in value]
    return value


_BUILTIN_BROKERS: dict[str, type[BrokerConfigBase]] = {
    "paper": PaperBrokerConfig,
    "binance": BinanceBrokerConfig,
    "ib": IBBrokerConfig,
}


def _broker_tag(value: Any) -> str:
    if isinstance(value, BrokerConfigBase):
        for tag, cls in _BUILTIN_BROKERS.items():
            if isinstance(value, cls):
                return tag
        return "external"
    kind = value.get("type") if isinstance(value, Mapping) else None
    return kind if isinstance(kind, str) and kind in _BUILTIN_BROKERS else "external"


BrokerConfig = Annotated[
    Annotated[PaperBrokerConfig, Tag("paper")]
    | Annotated[BinanceBrokerConfig, Tag("binance")]
    | Annotated[IBBrokerConfig, Tag("ib")]
    | Annotated[ExternalBrokerConfig, Tag("external")],
    Discriminator(_broker_tag),
]


class UIConfig(_Section):
    theme: str = Field("silvertine-dark", min_length=1)
    # Frames a second for every pane but the quotes, which are drawn at Textual's own
    # screen updates (`TEXTUAL_FPS`, 60): see docs/ui.md, "Over SSH".
    frame_rate: float = Field(20.0, ge=1, le=60)
    # Orders above this notional ask for a second confirmation.
    confirm_notional: Decimal = Field(Decimal("10000"), gt=0)
    # The same order sent again from an unchanged ticket within this many seconds of
    # the last (a second enter, F9 pressed again) asks for a confirmation: it would be
    # a second order. 0 never asks.
    repeat_confirm_s: float = Field(10.0, ge=0, le=3600)
    # Binding id -> keys, e.g. {"app.kill_switch": "ctrl+k"}.
    keymap: dict[str, str] = Field(default_factory=dict)


class RiskLimits(_Section):
    """Pre-trade limits. `null` switches a rule off. In `risk.brokers` and
    `risk.symbols` only the fields written override the defaults."""

    # Largest quantity of one order.
    max_quantity: Decimal | None = Field(None, gt=0)
    # Largest notional of one order (quantity x price, in the quote currency).
    max_notional: Decimal | None = Field(Decimal("100000"), gt=0)
    # A limit/stop price may be at most this many percent away from the last price.
    price_collar_pct: Decimal | None = Field(Decimal("5"), gt=0)
    # Working orders allowed per broker.
    max_open_orders: int | None = Field(50, gt=0)
    # New orders per second per broker (sliding one-second window).
    max_orders_per_s: float | None = Field(10.0, gt=0)
    # Largest absolute position per instrument after the order fills.
    max_position: Decimal | None = Field(None, gt=0)


class RiskConfig(_Section):
    defaults: RiskLimits = Field(default_factory=RiskLimits)
    # Per broker name, then per instrument (SYMBOL.VENUE or SYMBOL); later wins.
    brokers: dict[str, RiskLimits] = Field(default_factory=dict)
    symbols: dict[str, RiskLimits] = Field(default_factory=dict)
    # Orders need their broker LIVE (or DEGRADED); switch off only for drills.
    require_live: bool = True
    # A broker with `live: true` refuses new orders while execution events cannot be
    # written to the journal (the bus is down and only buffers them); cancels still go
    # through and paper brokers go on. Switch off only if you accept unjournaled orders.
    live_requires_journal: bool = True
    # The trading state a session starts in when the journal holds none.
    initial_state: TradingState = TradingState.ACTIVE

    def limits_for(self, broker: str, instrument: str) -> RiskLimits:
        merged = self.defaults.model_dump()
        symbol = instrument.rpartition(".")[0] or instrument
        for override in (
            self.brokers.get(broker),
            self.symbols.get(symbol),
            self.symbols.get(instrument),
        ):
            if override is not None:
                merged.update({k: getattr(override, k) for k in override.model_fields_set})
        return RiskLimits.model_validate(merged)


class EngineConfig(_Section):
    # Cancel every working order when the app exits (off: orders keep working).
    cancel_on_exit: bool = False
    # Snapshot the engine state every N journal events or T seconds, whichever first.
    snapshot_every_events: int = Field(5_000, gt=0)
    snapshot_every_s: float = Field(60.0, gt=0)
    # Finished orders (filled, cancelled, rejected, expired) kept in memory: the newest
    # N, none finished more than M minutes ago (0: no age limit); of those, the newest
    # K keep their event histories. The rest leave memory (the Orders pane too); the
    # journal keeps them and the history view reads them back from it. Working orders
    # always stay.
    finished_orders_kept: int = Field(1_000, ge=0)
    finished_orders_minutes: float = Field(0.0, ge=0)
    finished_histories_kept: int = Field(200, ge=0)
    # How long this desk's claim on each of its brokers outlives its last renewal (it
    # renews every third of it): how long a desk that died on another host keeps its
    # brokers from another desk on the same bus (engine/claims.py).
    claim_ttl_s: float = Field(15.0, ge=1.0, le=600.0)


def state_home() -> Path:
    """Silvertine's state dir on this host: `$XDG_STATE_HOME/silvertine`
    (`~/.local/state/silvertine`). The log, the UI's remembered choices and each desk's
    last-run record live there."""
    state = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says relative paths in these variables are invalid and must be ignored.
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local/state"
    return base / "silvertine"


def _default_log_file() -> Path:
    return state_home() / "silvertine.log"


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LogConfig(_Section):
    file: Path = Field(default_factory=_default_log_file)
    level: LogLevel = "INFO"
    # Level per logger, e.g. {ib_async: INFO}: wins over `level` and over the cap the
    # libraries' loggers have by default (WARNING for ib_async, websockets, binance,
    # aiohttp, urllib3, asyncio: logsetup.LIBRARY_LEVELS).
    levels: dict[str, LogLevel] = Field(default_factory=dict)

    @field_validator("file")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("levels", mode="before")
    @classmethod
    def _upper_levels(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if any(not isinstance(name, str) or not name.strip() for name in value):
            raise ValueError("logger names must not be empty")
        return {name: v.upper() if isinstance(v, str) else v for name, v in value.items()}


def _one_binance_market(brokers: Sequence[BrokerConfigBase]) -> None:
    """Refuse enabled brokers that quote Binance's instruments from two networks.

    The engine keeps one mark per instrument key (`BTCUSDT.BINANCE`), whichever broker
    quoted it: a testnet broker beside a paper broker on the real market's prices (or a
    live Binance account) would mark, collar and value each other's orders and
    positions at the other network's prices, which are not the same market."""
    seen: tuple[int, str, bool] | None = None
    for i, broker in enumerate(brokers):
        if not broker.enabled:
            continue
        if isinstance(broker, BinanceBrokerConfig):
            testnet, what = broker.testnet, "testnet"
        elif isinstance(broker, PaperBrokerConfig) and broker.market.source == "binance":
            testnet, what = broker.market.testnet, "market.testnet"
        else:
            continue
        if seen is None:
            seen = (i, what, testnet)
        elif seen[2] != testnet:
            j, first_what, first_testnet = seen
            raise ValueError(
                f"brokers[{j}] ({brokers[j].name}, {first_what}: "
                f"{str(first_testnet).lower()}) and brokers[{i}] ({broker.name}, {what}: "
                f"{str(testnet).lower()}) quote Binance's instruments from different "
                "networks, and the desk keeps one mark per instrument (BTCUSDT.BINANCE): "
                "each would be valued and price-checked at the other's prices. Use the "
                "same network for both, or disable one"
            )


def _one_paper_market(brokers: Sequence[BrokerConfigBase]) -> None:
    """Refuse enabled paper brokers that quote the same symbol from different markets.

    Each paper broker simulates its own market, and every one quotes `SYMBOL.PAPER`;
    the engine keeps one mark per instrument key. Two with the same seed and market
    settings walk the same prices; two that differ (another seed, `start_mid`, source)
    flipped the desk's one mark between their prices, and each valued and
    price-checked the other's positions and orders at them."""
    seen: dict[str, tuple[int, str]] = {}  # symbol -> (index, its market's settings)
    for i, broker in enumerate(brokers):
        if not broker.enabled or not isinstance(broker, PaperBrokerConfig):
            continue
        market = f"seed {broker.seed} {broker.market.model_dump_json()}"
        for symbol in broker.symbols:
            first = seen.setdefault(symbol, (i, market))
            if first[1] != market:
                j = first[0]
                raise ValueError(
                    f"brokers[{j}] ({brokers[j].name}) and brokers[{i}] ({broker.name}) "
                    f"both quote {symbol}.PAPER from paper markets with different settings "
                    "(seed or market), and the desk keeps one mark per instrument: each "
                    "would be valued and price-checked at the other's prices. Give them the "
                    "same seed and market settings, or different symbols"
                )


_IB_ACCOUNT_RE = re.compile(r"[A-Z]{1,3}\d+")


def _ib_real_money_is_live(brokers: Sequence[BrokerConfigBase]) -> None:
    """Refuse an IB broker on a real-money account set `live: false`. IB's paper
    (simulated) accounts start with D (DU1234567); any other is real money: shown as
    PAPER, the desk had the live-only protections off (no new order while the journal
    cannot be written, `risk.live_requires_journal`). Only an account written as IB
    writes them (letters, then digits: U1234567) is known to be one; TWS itself refuses
    an account its login does not manage."""
    for i, broker in enumerate(brokers):
        account = broker.account.upper()
        real = bool(_IB_ACCOUNT_RE.fullmatch(account)) and not account.startswith("D")
        if isinstance(broker, IBBrokerConfig) and not broker.live and real:
            raise ValueError(
                f"brokers[{i}] ({broker.name}).live: account {broker.account} is a "
                "real-money IB account (paper accounts start with D: DU1234567), and "
                "live is false: set live: true (the desk then shows LIVE and keeps the "
                "live-only protections on), or give the paper account's id"
            )


def _default_brokers() -> list[BrokerConfig]:
    return [PaperBrokerConfig(name="paper", account="main")]


class Settings(BaseModel):
    # pydantic-settings' own choices (extra forbidden, defaults validated), so that a
    # Settings validated here and one built by its sources (config_sources.py) agree.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, validate_default=True)

    bus: BusConfig = Field(default_factory=BusConfig)
    brokers: list[BrokerConfig] = Field(default_factory=_default_brokers)
    ui: UIConfig = Field(default_factory=UIConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    @field_validator("brokers")
    @classmethod
    def _check_brokers(cls, value: list[BrokerConfigBase]) -> list[BrokerConfigBase]:
        if not value:
            raise ValueError("at least one broker is required")
        first: dict[str, int] = {}
        for i, broker in enumerate(value):
            if broker.name in first:
                raise ValueError(
                    f"duplicate broker name {broker.name!r} "
                    f"(brokers[{first[broker.name]}] and brokers[{i}]); names must be unique"
                )
            first[broker.name] = i
        _one_binance_market(value)
        _one_paper_market(value)
        _ib_real_money_is_live(value)
        return value

    @field_validator("risk")
    @classmethod
    def _risk_for_known_brokers(cls, value: RiskConfig, info: ValidationInfo) -> RiskConfig:
        # Limits under a name no broker has never applied (a typo: `papr`), silently.
        brokers = info.data.get("brokers")
        if brokers is None:
            return value  # (the brokers' own problem is said)
        names = [broker.name for broker in brokers]
        for key in value.brokers:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"brokers.{key}: no broker is named {key!r}, so these limits would "
                    f"never apply{hint} (the brokers: {', '.join(names)})"
                )
        return value

    def broker(self, name: str) -> BrokerConfig:
        for broker in self.brokers:
            if broker.name == name:
                return broker
        raise KeyError(name)

    @property
    def enabled_brokers(self) -> list[BrokerConfig]:
        return [b for b in self.brokers if b.enabled]

    @property
    def live(self) -> bool:
        """True if any enabled broker is configured to trade real money (the desk's
        LIVE marker, from the config alone: its first frame has nothing else)."""
        return any(cfg.live for cfg in self.enabled_brokers)


# --------------------------------------------------------------------------- YAML file


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a config file and expand ``${VAR}`` references; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["file not found"], path) from None
    except UnicodeDecodeError:
        raise ConfigError(["file is not UTF-8 text"], path) from None
    except OSError as exc:
        raise ConfigError(
            [f"cannot read the file: {exc.strerror or type(exc).__name__}"], path
        ) from None
    from .config_sources import parse_yaml

    data = parse_yaml(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        sections = ", ".join(Settings.model_fields)
        raise ConfigError(
            [f"the top level must be a mapping of sections ({sections}), not {kind}"], path
        )
    try:
        expanded: dict[str, Any] = expand_env_vars(data)
    except ConfigError as exc:
        exc.path = path
        raise
    # An empty section (all its lines commented out) means "use the defaults".
    return {key: value for key, value in expanded.items() if value is not None}


# --------------------------------------------------------------------------- ${VAR}

_VAR_RE = re.compile(
    r"\$(?:(?P<escape>\$)(?=\{)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\{))"
)


def _join_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        text = f"[{text!r}]"
        return f"{path}{text}"
    return f"{path}.{text}" if path else text


def _expand_str(value: str, where: str, environ: Mapping[str, str], problems: list[str]) -> str:
    expanded = False

    def replace(match: re.Match[str]) -> str:
        nonlocal expanded
        if match["escape"]:
            return "$"
        name, default = match["name"], match["default"]
        expanded = expanded or name is not None
        if name is None:
            problems.append(f"{where}: malformed '${{'; use ${{NAME}} or ${{NAME:-default}}")
            return match[0]
        if default is not None and "${" in default:
            problems.append(f"{where}: nested ${{...}} in a default is not supported")
            return ""
        found = environ.get(name)
        if default is not None and not found:
            return default
        if found is None:
            problems.append(f"{where}: environment variable {name} is not set")
            return ""
        return found

    result = _VAR_RE.sub(replace, value)
    return _FromEnv(result) if expanded else result


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold (each `SecretStr`, third-party extras included,
    and a password written in the bus URL): what the logs must never show
    (`logsetup.register_secret`)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, SecretStr):
            found.append(node.get_secret_value())
        elif isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name))
            for value in (node.model_extra or {}).values():
                walk(value)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk(settings)
    url = settings.bus.url
    if not url.startswith("memory"):
        # Every password written in the URL (userinfo, `password`, `ssl_password`...),
        # as written and decoded; and what redis-py reads, should it read one more.
        found += url_secrets(url)
        parts = _redis_url_parts(url)
        for name in ("password", "ssl_password"):
            if parts and parts.get(name):
                found.append(str(parts[name]))
    return list(dict.fromkeys(value for value in found if value))


def _host_is_not_the_written_one(url: str, parts: Mapping[str, Any]) -> bool:
    """Whether redis-py would connect to another host than the one `url` shows once
    its passwords are hidden (`redact_url`): the password's end misread."""
    if url.lower().startswith("unix://"):
        return False
    try:
        shown = urlsplit(redact_url(url)).hostname or ""
    except ValueError:  # (brackets of an IPv6 host the redaction cut)
        return True
    read = str(parts.get("host") or "")
    return unquote(shown).lower() != unquote(read).lower()


# The query parameters redis-py takes in a bus URL, by scheme: what its connection class
# for the scheme accepts and can be given as text. Any other went into the connection's
# keyword arguments and every command died in a TypeError (`?timeout=5`, a misspelt
# one, `ssl_*` on redis://). tests/unit/test_config_checks_bus_url.py checks them against
# redis-py's own signatures.
_URL_PARAMETERS = frozenset(
    {
        "db",
        "username",
        "password",
        "client_name",
        "lib_name",
        "lib_version",
        "max_connections",
        "socket_read_size",
        "retry_on_timeout",
        "encoding",
        "encoding_errors",
    }
)
_TCP_PARAMETERS = frozenset({"socket_keepalive"})
_SSL_PARAMETERS = frozenset(
    {
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_data",
        "ssl_ca_path",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "ssl_password",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
    }
)
# Taken by redis-py but set by the bus itself, or left at redis-py's default, which
# the bus reads its replies in: from the URL they would replace the bus's own (a
# reader's socket timeout shorter than its blocking read times out every read;
# decoded or RESP3 replies are not what the bus reads).
_BUS_OWN_PARAMETERS = frozenset(
    {
        "socket_timeout",
        "socket_connect_timeout",
        "health_check_interval",
        "decode_responses",
        "protocol",
    }
)


def bus_url_problems(url: str) -> list[str]:
    """`bus.url: ...` for each query parameter of a Redis bus URL that redis-py does
    not take for its scheme, or that the bus sets itself. Named, never with its value
    (it may be a password)."""
    from urllib.parse import parse_qsl

    scheme, _, rest = url.partition("://")
    if scheme not in ("redis", "rediss", "unix"):
        return []
    query = rest.partition("#")[0].partition("?")[2]
    taken = _URL_PARAMETERS | (_SSL_PARAMETERS if scheme == "rediss" else frozenset())
    taken |= _TCP_PARAMETERS if scheme != "unix" else frozenset()
    problems = []
    for name, _value in parse_qsl(query, keep_blank_values=False):
        shown = name if name.isprintable() and len(name) <= 40 else f"{name[:40]!r}..."
        if name in _BUS_OWN_PARAMETERS:
            problems.append(
                f"bus.url: query parameter {shown!r} is one the bus sets itself (its "
                "timeouts follow bus.block_ms) or needs at redis-py's default; remove it "
                "from the URL"
            )
        elif name not in taken:
            where = (
                "; ssl_* parameters apply to rediss:// only"
                if name.startswith("ssl_") and name in _SSL_PARAMETERS
                else ""
            )
            close = difflib.get_close_matches(name.lower(), sorted(taken), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]!r}?" if close and not where else ""
            problems.append(
                f"bus.url: query parameter {shown!r} is not one redis-py takes in a "
                f"{scheme}:// URL{where}{hint} (it takes: {', '.join(sorted(taken))}); "
                "remove it"
            )
    return problems


def _redis_url_parts(url: str) -> dict[str, Any] | None:
    """A bus URL as redis-py reads it when the bus opens (host, port, db, password...),
    or None when it cannot. Imported here: a desk on the memory bus never loads it."""
    from redis.connection import parse_url

    try:
        parts: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError:
        return None
    return parts


def expand_env_vars(data: Any, environ: Mapping[str, str] | None = None) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string value (not in keys).

    ``${NAME:-default}`` uses the default when NAME is unset or empty; ``$${`` is a literal
    ``${``. All missing variables are reported together, each with its config path.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            return _expand_str(node, path or "(top level)", env, problems)
        if isinstance(node, dict):
            return {k: walk(v, _join_path(path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, _join_path(path, i)) for i, v in enumerate(node)]
        return node

    result = walk(data, "")
    if problems:
        raise ConfigError(problems)
    return result


# --------------------------------------------------------------------------- errors


def _strip_type(tp: Any) -> Any:
    """Remove ``Annotated`` and ``X | None`` wrappers; keep real unions."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _tagged_member(tp: Any, item: int | str) -> Any:
    tp = _strip_type(tp)
    if get_origin(tp) not in (Union, UnionType):
        return None
    for member in get_args(tp):
        if get_origin(member) is Annotated:
            cls, *meta = get_args(member)
            if any(isinstance(m, Tag) and m.tag == item for m in meta):
                return cls
    return None


def _child_type(tp: Any, item: int | str) -> Any:
    tp = _strip_type(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(item) if isinstance(item, str) else None
        return field.annotation if field is not None else None
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _walk_loc(loc: Sequence[int | str]) -> tuple[str, Any]:
    """The dotted path of a pydantic error location, and the type found there.

    Union tags in the location (``brokers.1.binance.api_secret``) are dropped.
    """
    path, tp = "", Settings
    for item in loc:
        member = _tagged_member(tp, item)
        if member is not None:
            tp = member
            continue
        path = _join_path(path, item)
        tp = _child_type(tp, item)
    return path, tp


def _validation_problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        path, _ = _walk_loc(loc)
        kind = err["type"]
        if kind == "missing":
            rule = "is required"
        elif kind == "extra_forbidden" and loc:
            rule = "unknown key"
            _, parent = _walk_loc(loc[:-1])
            parent = _strip_type(parent)
            if isinstance(parent, type) and issubclass(parent, BaseModel):
                known = sorted(parent.model_fields)
                close = difflib.get_close_matches(str(loc[-1]), known, n=1)
                rule += f"; did you mean {close[0]!r}?" if close else ""
                rule += f" (expected one of: {', '.join(known)})"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            rule = "expected a mapping"
        elif kind in ("list_type", "tuple_type"):
            rule = "expected a list"
        elif kind == "value_error" and "error" in err.get("ctx", {}):
            rule = str(err["ctx"]["error"])
        else:
            msg = err["msg"]
            rule = msg[:1].lower() + msg[1:] if msg[1:2].islower() else msg
        line = f"{path or '(top level)'}: {rule}"
        if line not in problems:
            problems.append(line)
    return problems


# --------------------------------------------------------------------------- loading


def environment_overrides(environ: Mapping[str, str] | None = None) -> list[str]:
    """The ``SILVERTINE_*`` variables that may set a field (every one but
    ``SILVERTINE_CONFIG``; case-insensitive, as pydantic-settings reads them)."""
    env = os.environ if environ is None else environ
    prefix, config = ENV_PREFIX.lower(), CONFIG_ENV_VAR.lower()
    return [name for name in env if name.lower().startswith(prefix) and name.lower() != config]


def _env_field_problem(name: str) -> str:
    """Why the `SILVERTINE_*` variable `name` sets no setting as written ("" when it
    does, or when it is no setting's: another tool's `SILVERTINE_PROPERTY_EXAMPLES`).
    pydantic-settings passes over a variable that names no field without a word: a
    `SILVERTINE_BUS_URL` (one underscore) left the desk on memory://."""
    rest = name[len(ENV_PREFIX) :].lower()
    sections = list(Settings.model_fields)
    path = rest.split("__")
    if len(path) == 1:
        if rest in sections or not rest:
            return ""
        section = next((s for s in sections if rest.startswith(s)), None)
        if section is None:
            close = difflib.get_close_matches(rest, sections, n=1, cutoff=0.75)
            if not close:
                return ""  # not one of ours
            section = close[0]
            spelt = f"{ENV_PREFIX}{section.upper()}"
            return f"{name}: no section is named {rest!r}: did you mean {spelt}?"
        field = rest[len(section) :].lstrip("_")
        spelt = f"{ENV_PREFIX}{section.upper()}__{field.upper()}"
        return (
            f"{name} names no setting: a section and its field are joined by two "
            f"underscores ({spelt})"
        )
    tp: Any = Settings
    walked: list[str] = []
    for part in path:
        tp = _strip_type(tp)
        if get_origin(tp) is list or tp is list:
            where = ".".join(walked)
            return (
                f"{name}: {where} is a list, which the environment cannot set one item "
                f"or field at a time: give the whole list as JSON in "
                f"{ENV_PREFIX}{'__'.join(walked).upper()} (for example "
                f'{ENV_PREFIX}BROKERS=\'[{{"name": "paper", "type": "paper"}}]\'), '
                "or set the field in the config file with a ${VAR} for its value "
                "(live: ${IB_LIVE})"
            )
        if get_origin(tp) is dict or tp is dict:
            return ""  # any key
        if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
            spelt = f"{ENV_PREFIX}{'__'.join(walked).upper()}"
            return f"{name}: {'.'.join(walked)} is a value, not a section: write {spelt}"
        fields = {f.lower(): f for f in tp.model_fields}
        if part not in fields:
            where = ".".join(walked) or "the settings"
            known = sorted(fields)
            close = difflib.get_close_matches(part, known, n=1)
            hint = ""
            if close:
                hint = f"; did you mean {ENV_PREFIX}{'__'.join([*walked, close[0]]).upper()}?"
            return (
                f"{name} names no setting: {where} has no {part!r}{hint} "
                f"(it has: {', '.join(known)})"
            )
        walked.append(fields[part])
        tp = tp.model_fields[fields[part]].annotation
    return ""


def environment_problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """Each `SILVERTINE_*` variable that looks meant for a setting but sets none as
    written (`SILVERTINE_BUS_URL`), or one a field inside a list
    (`SILVERTINE_BROKERS__0__LIVE`, which pydantic-settings read as a mapping and
    refused as "brokers: expected a list", blaming the config file); the config is
    refused with them. A variable that names no section of ours is left alone (it may
    be another tool's: the test suite's `SILVERTINE_PROPERTY_EXAMPLES`)."""
    found = [_env_field_problem(name) for name in sorted(environment_overrides(environ))]
    return [problem for problem in found if problem]


def config_file(path: str | Path | None = None) -> Path | None:
    """The config file read: ``path``, else ``$SILVERTINE_CONFIG``, else none."""
    if path is None:
        path = os.environ.get(CONFIG_ENV_VAR, "") or None
    return Path(path).expanduser() if path is not None else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``path`` (or ``$SILVERTINE_CONFIG``, or no file).

    ``overrides`` are keyword arguments of :class:`Settings` and win over everything; a dict
    for a section is merged into that section. Raises :class:`ConfigError`.
    """
    file = config_file(path)
    variables = environment_overrides()
    problems = environment_problems() if variables else []
    if problems:
        raise ConfigError(problems, file)
    try:
        if file is None and not variables:
            # Nothing to read: the overrides and the defaults are all there is.
            settings = Settings(**overrides)
        else:
            from .config_sources import settings_from_sources

            settings = settings_from_sources(file, overrides)
    except ValidationError as exc:
        raise ConfigError.from_validation_error(exc, file) from None
    problems = bus_url_problems(settings.bus.url)
    if problems:
        raise ConfigError(problems, file)
    return settings
