"""The streams' ends are set in the bus config and reach the bus."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from silvertine_tui.config import BusConfig
from silvertine_tui.engine import bus_options


def test_defaults_give_every_stream_an_end() -> None:
    config = BusConfig()
    assert (config.signal_maxlen, config.snapshot_keep, config.risk_keep) == (
        100_000,
        10,
        100_000,
    )


@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:6379/0"])
def test_signal_and_snapshot_limits_reach_the_bus(url: str) -> None:
    options = bus_options(BusConfig(url=url, signal_maxlen=500, snapshot_keep=3))
    assert (options.signal_maxlen, options.snapshot_keep) == (500, 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("signal_maxlen", 0), ("snapshot_keep", 0), ("risk_keep", 99)],
)
def test_limits_that_would_empty_a_stream_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError) as exc:
        BusConfig.model_validate({field: value})
    assert field in str(exc.value)
