"""Structured logs (JSON lines) to a file: the terminal belongs to the UI.

Defence in depth for secrets: values registered with `register_secret` (every secret of
the settings: `setup_logging(secrets=...)`) are replaced by `***` in every formatted
line, whatever code logged them: in each field before it is encoded (a secret with a
quote or a backslash in it is escaped by JSON) and in the line after.

A line's own fields (`RESERVED`: its time, level, logger, event name, traceback) are
never replaced by a caller's `extra`: one named like them is kept as `x_<name>`
(`extra={"event": ...}` replaced the event name, and `grep binance.bad_report` found
nothing). Exceptions nobody catches in a thread or in a `__del__` are logged with their
traceback (`threading.excepthook`, `sys.unraisablehook`): while the UI runs, stderr is
the UI's and they vanished. Chatty libraries are capped at WARNING (`LIBRARY_LEVELS`,
`log.levels` in the config overrides them).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_secrets: set[str] = set()

RESERVED = frozenset({"ts", "level", "logger", "event", "exc", "stack"})
"""The fields every line has or may have of its own: an `extra` never replaces one."""

LIBRARY_LEVELS: dict[str, str] = {
    "ib_async": "WARNING",  # INFO: every message to and from TWS, lines of kilobytes
    "websockets": "WARNING",  # DEBUG: every frame (python-binance's streams)
    "binance": "WARNING",  # python-binance
    "aiohttp": "WARNING",
    "urllib3": "WARNING",
    # INFO and DEBUG only in asyncio's debug mode (slow callbacks, selectors); its
    # errors ("Task exception was never retrieved") are ERROR and always written.
    "asyncio": "WARNING",
}
"""Loggers of the libraries the desk uses, capped at this level (never below
`log.level`) unless `log.levels` names them: at their own defaults ib_async wrote
600 lines (690 KB) for 20 orders and websockets every frame at DEBUG."""

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_leveled: set[str] = set()  # loggers whose level `setup_logging` set


def register_secret(value: str) -> None:
    if len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class JsonFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                name = key
                while name in RESERVED or name in data:
                    name = f"x_{name}"  # the line's own field stays; the extra is kept
                data[name] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        if _secrets:
            data = {key: redact(v) if isinstance(v, str) else v for key, v in data.items()}
        return redact(orjson.dumps(data, default=str).decode())


def log_file_problem(path: Path) -> str:
    """Why `path` cannot take the log ("" when it can): said as a configuration error
    before anything starts (it stopped the desk with a traceback)."""
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        return (
            f"log.file: cannot write {path} ({exc.strerror or type(exc).__name__}); "
            "choose another file with log.file or SILVERTINE_LOG__FILE"
        )
    return ""


def _level_name(level: str) -> str:
    return level.upper() if level.upper() in _LEVELS else "INFO"


def library_levels(level: str, levels: Mapping[str, str] | None = None) -> dict[str, str]:
    """The level of each library logger: `LIBRARY_LEVELS` (none below `level`, the
    log's own), then what `levels` (`log.levels`) says, which wins as given."""
    own = _LEVELS.index(_level_name(level))
    found = {name: _LEVELS[max(own, _LEVELS.index(cap))] for name, cap in LIBRARY_LEVELS.items()}
    found.update({name: _level_name(value) for name, value in (levels or {}).items()})
    return found


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """`threading.excepthook`: an exception that ended a thread, logged with its
    traceback (the default wrote it to stderr, which the UI holds)."""
    if args.exc_type is SystemExit:
        return  # as the default hook: a thread that exits says nothing
    try:
        name = args.thread.name if args.thread is not None else "?"
        logging.getLogger("silvertine.uncaught").error(
            "thread.uncaught_exception",
            exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
            extra={"in_thread": name},
        )
    except Exception:
        threading.__excepthook__(args)


def _log_unraisable(args: Any) -> None:
    """`sys.unraisablehook`: an exception Python could not raise (in a `__del__`, a
    callback of the garbage collector...), logged with its traceback."""
    try:
        try:
            where = repr(args.object) if args.object is not None else ""
        except Exception:
            where = f"<{type(args.object).__name__} object (its repr failed)>"
        exc_info = None
        if args.exc_type is not None:
            value = args.exc_value if args.exc_value is not None else args.exc_type()
            exc_info = (args.exc_type, value, args.exc_traceback)
        logging.getLogger("silvertine.uncaught").error(
            "unraisable_exception",
            exc_info=exc_info,
            extra={"detail": args.err_msg or "Exception ignored in", "object": where[:500]},
        )
    except Exception:
        sys.__unraisablehook__(args)


def setup_logging(
    path: Path,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    levels: Mapping[str, str] | None = None,
) -> Path:
    """Send all logs to `path` (rotated, 10 MB x 5) and nowhere else; `secrets` are
    never written (`register_secret`). Libraries' loggers are capped
    (`library_levels`; `levels` is `log.levels`), and exceptions in threads and in
    `__del__` are logged (`threading.excepthook`, `sys.unraisablehook`)."""
    for secret in secrets:
        register_secret(secret)
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=10_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _leveled:  # a previous call's, in this process
        logging.getLogger(name).setLevel(logging.NOTSET)
    _leveled.clear()
    for name, value in library_levels(level, levels).items():
        logging.getLogger(name).setLevel(value)
        _leveled.add(name)
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable
    return path
