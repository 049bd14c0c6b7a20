"""The log file is the one record of a desk whose terminal belongs to the UI:

- a line's own fields (ts, level, logger, event, exc) are never replaced by a caller's
  `extra` (`extra={"event": ...}` replaced the event name: `grep binance.bad_report`
  found nothing); the extra is kept as `x_<name>`;
- an exception that ends a thread, or is raised in a `__del__`, is logged with its
  traceback (Python writes both to stderr, which Textual holds while the UI runs:
  they vanished);
- chatty libraries are capped at WARNING (ib_async wrote 623 lines, 688 KB, for 20
  orders at INFO; websockets every frame at DEBUG), `log.levels` overriding it."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from silvertine_tui import cli
from silvertine_tui.config import load_settings
from silvertine_tui.logsetup import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("ib_async", "websockets", "binance", "aiohttp", "urllib3", "asyncio")
    levels = {name: logging.getLogger(name).level for name in names}
    hooks = threading.excepthook, sys.unraisablehook
    yield
    threading.excepthook, sys.unraisablehook = hooks
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def records(path: Path) -> list[dict[str, Any]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [orjson.loads(line) for line in path.read_text().splitlines() if line]


# -- reserved fields ---------------------------------------------------------------


def test_an_extra_never_replaces_the_lines_own_fields(
    tmp_path: Path, restore_logging: None
) -> None:
    path = setup_logging(tmp_path / "desk.log", "DEBUG")
    log = logging.getLogger("silvertine_tui.brokers.binance.broker")
    report = "{'e': 'executionReport', 'X': 'NEW_STATUS'}"
    # As binance/broker.py logs a report it cannot read.
    log.error(
        "binance.bad_report",
        extra={"broker": "binance/spot", "event": report, "ts": "t", "level": "l", "exc": "e"},
    )
    log.info("two", extra={"event": "first", "x_event": "second"})
    [bad, two] = records(path)
    assert bad["event"] == "binance.bad_report"
    assert bad["x_event"] == report
    assert bad["level"] == "ERROR"
    assert bad["x_level"] == "l"
    assert bad["ts"] != "t"
    assert bad["x_ts"] == "t"
    assert bad["x_exc"] == "e"
    assert "exc" not in bad  # no exception logged: no traceback field
    assert bad["broker"] == "binance/spot"
    assert two["event"] == "two"
    assert {two["x_event"], two["x_x_event"]} == {"first", "second"}


# -- exceptions nobody catches ---------------------------------------------------------


def test_an_exception_that_ends_a_thread_is_logged_with_its_traceback(
    tmp_path: Path, restore_logging: None
) -> None:
    path = setup_logging(tmp_path / "desk.log", "INFO")

    def work() -> None:
        raise ZeroDivisionError("division in a worker thread")

    thread = threading.Thread(target=work, name="worker-thread")
    thread.start()
    thread.join()
    [line] = [r for r in records(path) if r["event"] == "thread.uncaught_exception"]
    assert line["level"] == "ERROR"
    assert line["in_thread"] == "worker-thread"
    assert "Traceback" in line["exc"]
    assert "ZeroDivisionError: division in a worker thread" in line["exc"]
    assert "in work" in line["exc"]


def test_an_exception_in_a_del_is_logged_with_its_traceback(
    tmp_path: Path, restore_logging: None
) -> None:
    path = setup_logging(tmp_path / "desk.log", "INFO")

    class Leaky:
        def __del__(self) -> None:
            raise ValueError("unraisable in __del__")

    leaky = Leaky()
    del leaky
    gc.collect()
    [line] = [r for r in records(path) if r["event"] == "unraisable_exception"]
    assert line["level"] == "ERROR"
    assert "ValueError: unraisable in __del__" in line["exc"]
    assert "__del__" in line["exc"]
    assert "Leaky" in line["object"]


# -- library levels ---------------------------------------------------------------------


def chatter() -> None:
    logging.getLogger("ib_async.client").info("ib chatter")
    logging.getLogger("ib_async.wrapper").warning("ib warning")
    logging.getLogger("websockets.client").debug("> TEXT frame")
    logging.getLogger("binance.ws.reconnecting_websocket").debug("binance chatter")
    logging.getLogger("aiohttp.client").info("aiohttp chatter")
    logging.getLogger("urllib3.connectionpool").debug("urllib3 chatter")
    logging.getLogger("asyncio").info("asyncio chatter")
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    logging.getLogger("silvertine_tui.engine").debug("our own debug")


def test_libraries_are_capped_at_warning(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging(tmp_path / "desk.log", "DEBUG")
    chatter()
    events = [r["event"] for r in records(path)]
    assert events == ["ib warning", "Task exception was never retrieved", "our own debug"]


def test_the_cap_is_never_below_the_logs_own_level(tmp_path: Path, restore_logging: None) -> None:
    path = setup_logging(tmp_path / "desk.log", "ERROR")
    chatter()
    assert [r["event"] for r in records(path)] == ["Task exception was never retrieved"]


def test_log_levels_in_the_config_override_the_cap(
    tmp_path: Path, restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SILVERTINE_CONFIG", raising=False)
    config = tmp_path / "desk.yaml"
    log = tmp_path / "desk.log"
    levels = "{ib_async: info, websockets: DEBUG}"
    config.write_text(f"log: {{file: {str(log)!r}, levels: {levels}}}\n")
    settings = load_settings(config)
    assert settings.log.levels == {"ib_async": "INFO", "websockets": "DEBUG"}
    cli._setup_logging(settings)  # what `silvertine run` does
    chatter()
    events = [r["event"] for r in records(log)]
    assert "ib chatter" in events
    assert "> TEXT frame" in events
    assert "binance chatter" not in events  # still capped
    assert "aiohttp chatter" not in events
    # A new start (in this process) with no override caps them again.
    setup_logging(log, "DEBUG")
    logging.getLogger("ib_async.client").info("ib chatter again")
    assert "ib chatter again" not in [r["event"] for r in records(log)]


def test_log_levels_refuses_an_unknown_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SILVERTINE_CONFIG", raising=False)
    from silvertine_tui.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_settings(log={"levels": {"ib_async": "LOUD"}})
    [problem] = info.value.problems
    assert problem.startswith("log.levels.ib_async:")
