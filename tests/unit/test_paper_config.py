"""The paper broker's simulator settings: typed, bounded, documented in config/paper.yaml."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from silvertine_tui.config import (
    ConfigError,
    PaperBrokerConfig,
    PaperChecksConfig,
    PaperFaultsConfig,
    PaperFeesConfig,
    PaperFillConfig,
    PaperLatencyConfig,
    PaperMarketConfig,
    PaperSymbolConfig,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
SECTIONS: dict[str, type[BaseModel]] = {
    "market": PaperMarketConfig,
    "fill": PaperFillConfig,
    "latency": PaperLatencyConfig,
    "fees": PaperFeesConfig,
    "checks": PaperChecksConfig,
    "faults": PaperFaultsConfig,
}


def test_defaults_are_never_easier_than_live() -> None:
    config = PaperBrokerConfig(name="paper")
    assert config.latency.enabled
    assert config.latency.ack_ms > 0
    assert config.latency.jitter_ms > 0
    assert config.fees.taker_bps == Decimal("10")
    assert config.fees.maker_bps == Decimal("8")
    assert config.fill.resting == "through"
    assert not config.checks.short_selling
    assert config.checks.leverage == 1
    assert (config.faults.duplicate_reports, config.faults.late_reports) == (0, 0)


def problems(tmp_path: Path, paper_section: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(f"brokers:\n  - name: paper\n    type: paper\n{paper_section}")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return info.value.problems


def test_unknown_keys_and_bad_values_are_named(tmp_path: Path) -> None:
    assert problems(tmp_path, "    latency: {ack: 5}\n") == [
        "brokers[0].latency.ack: unknown key; did you mean 'ack_ms'? (expected one of: "
        "ack_ms, cancel_ms, enabled, fill_ms, jitter_ms)"
    ]
    [problem] = problems(tmp_path, "    fees: {taker_bps: -1}\n")
    assert problem.startswith("brokers[0].fees.taker_bps: input should be greater than or equal")
    [problem] = problems(tmp_path, "    fill: {slippage: random}\n")
    assert problem.startswith("brokers[0].fill.slippage: input should be 'none', 'fixed_ticks'")
    [problem] = problems(tmp_path, '    market: {day_end_utc: "25:00"}\n')
    assert problem.startswith("brokers[0].market.day_end_utc:")
    [problem] = problems(tmp_path, "    market: {symbols: {DOGEUSDT: {start_mid: 1}}}\n")
    assert "market.symbols has settings for DOGEUSDT, which is not in symbols" in problem
    [problem] = problems(tmp_path, "    options: {}\n")
    assert problem.startswith("brokers[0].options: unknown key")


def test_symbol_overrides_are_typed() -> None:
    config = PaperBrokerConfig(
        name="paper",
        symbols=["BTCUSDT"],
        market={"symbols": {"BTCUSDT": {"start_mid": "60000", "volatility": 0.9}}},
    )
    btc = config.market.symbols["BTCUSDT"]
    assert btc.start_mid == Decimal("60000")
    assert btc.volatility == 0.9
    assert btc.tick_size is None  # unset: the built-in table decides


def test_the_example_profile_documents_every_simulator_option() -> None:
    text = (ROOT / "config" / "paper.yaml").read_text()
    section = text[text.index("    type: paper") : text.index("\nui:")]
    for name, model in SECTIONS.items():
        assert f"    {name}:" in section, name
        for field in model.model_fields:
            assert f"{field}:" in section, f"{name}.{field} is not documented"
    for field in PaperSymbolConfig.model_fields:
        assert field in section, f"market.symbols.<SYMBOL>.{field} is not documented"
