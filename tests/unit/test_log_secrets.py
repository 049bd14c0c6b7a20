"""The logs never hold a secret of the settings, whatever code logged it: each secret
is registered when logging starts (`setup_logging(secrets=...)`). Before, nothing
registered any (`register_secret` had no caller) and a secret logged by any path was
written in the clear."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from silvertine_tui.config import load_settings, secret_values
from silvertine_tui.logsetup import setup_logging

CONFIG = Path(__file__).resolve().parents[2] / "config" / "binance.yaml"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_every_secret_of_the_settings_is_kept_out_of_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "key-CANARY-AAAA")
    monkeypatch.setenv("BINANCE_API_SECRET", 'sec"CANARY\\BBBB')  # JSON escapes these
    settings = load_settings(CONFIG, bus={"url": "redis://:pw-CANARY-CCCC@127.0.0.1:1/0"})
    secrets = secret_values(settings)
    assert {"key-CANARY-AAAA", 'sec"CANARY\\BBBB', "pw-CANARY-CCCC"} <= set(secrets)
    path = setup_logging(tmp_path / "desk.log", "INFO", secrets)
    log = logging.getLogger("silvertine_tui.test")
    log.warning("connecting with key-CANARY-AAAA", extra={"detail": 'sec"CANARY\\BBBB'})
    try:
        raise RuntimeError("auth failed for redis://:pw-CANARY-CCCC@127.0.0.1:1/0")
    except RuntimeError:
        log.exception("bus.failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "connecting with ***" in text
    for canary in ("AAAA", "BBBB", "CCCC"):
        assert canary not in text, text
