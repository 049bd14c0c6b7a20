"""The default start (no config file, no `SILVERTINE_*` variable) validates the
settings with the model alone, without pydantic-settings and PyYAML; with a file or a
variable it goes through pydantic-settings' sources (`config_sources.py`). With
neither, both must give the same settings, or the same problems."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from silvertine_tui.config import ConfigError, Settings, environment_overrides, load_settings
from silvertine_tui.config_sources import settings_from_sources


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().startswith("silvertine_"):
            monkeypatch.delenv(name)


def outcome(build: Any) -> tuple[Any, ...]:
    """What a settings build gave: its values and which fields were given, or the
    problems a person would read."""
    try:
        built: Settings = build()
    except ValidationError as exc:
        return ("invalid", ConfigError.from_validation_error(exc).problems)
    except ConfigError as exc:
        return ("invalid", exc.problems)
    assert type(built) is Settings
    sections = {name: getattr(built, name).model_fields_set for name in ("bus", "ui", "log")}
    sections["risk.defaults"] = built.risk.defaults.model_fields_set
    return (
        "ok",
        built,
        built.model_dump(),
        built.model_fields_set,
        sections,
        [b.model_fields_set for b in built.brokers],
    )


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3000), st.sampled_from(["", "x", "1.5", "-1"])
)
BUS = st.fixed_dictionaries(
    {},
    optional={
        "url": st.sampled_from(["memory://", "redis://h:6379/0", "http://h", "nourl", ""]),
        "prefix": st.sampled_from(["silvertine", "a b", ":p", "p"]),
        "block_ms": st.one_of(st.integers(-5, 3000), st.just("x")),
        "password": st.sampled_from(["", "secret"]),
        "typo": SCALARS,
    },
)
BROKER = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["paper", "p2", "bad name"]),
        "type": st.sampled_from(["paper", "binance", "ib", "Paper", "custom"]),
    },
    optional={
        "live": st.booleans(),
        "seed": st.one_of(st.integers(0, 9), st.just("x")),
        "api_key": st.sampled_from(["k", ""]),
        "api_secret": st.just("s"),
        "account": st.sampled_from(["main", "DU1", ""]),
        "market": st.fixed_dictionaries(
            {}, optional={"source": st.sampled_from(["external", "x"])}
        ),
        "token": st.just("t"),
    },
)
OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "bus": BUS,
        "brokers": st.lists(BROKER, max_size=3),
        "ui": st.fixed_dictionaries(
            {},
            optional={"frame_rate": st.floats(0, 100), "theme": st.sampled_from(["", "plain"])},
        ),
        "log": st.fixed_dictionaries(
            {}, optional={"level": st.sampled_from(["debug", "INFO", "loud"])}
        ),
        "risk": st.fixed_dictionaries(
            {},
            optional={
                "defaults": st.fixed_dictionaries(
                    {}, optional={"max_quantity": st.sampled_from([None, "1", "-1", "x"])}
                )
            },
        ),
        "engine": st.fixed_dictionaries(
            {}, optional={"snapshot_every_events": st.integers(-1, 10)}
        ),
        "extra_section": SCALARS,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OVERRIDES)
def test_the_model_alone_builds_what_the_sources_build(overrides: dict[str, Any]) -> None:
    assert environment_overrides() == []
    fast = outcome(lambda: load_settings(None, **overrides))
    sourced = outcome(lambda: settings_from_sources(None, overrides))
    assert fast == sourced


def test_defaults_are_the_same_either_way() -> None:
    assert outcome(load_settings) == outcome(lambda: settings_from_sources(None, {}))
    assert load_settings() == Settings()


def test_any_silvertine_variable_but_the_config_file_goes_through_the_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SILVERTINE_CONFIG", "")
    monkeypatch.setenv("SILVERTINE_PROPERTY_EXAMPLES", "3")  # not a field: ignored
    assert environment_overrides() == ["SILVERTINE_PROPERTY_EXAMPLES"]
    assert load_settings() == Settings()
    # pydantic-settings reads the names case-insensitively; so does the check.
    monkeypatch.setenv("silvertine_ui__theme", "plain")
    assert "silvertine_ui__theme" in environment_overrides()
    assert load_settings().ui.theme == "plain"
    assert environment_overrides({"SILVERTINE_CONFIG": "x", "OTHER": "y"}) == []
