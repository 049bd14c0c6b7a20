"""Structured logs (JSON lines) to a file: the terminal belongs to the UI.

Defence in depth for secrets: values registered with `register_secret` (every secret of
the settings: `setup_logging(secrets=...)`) are replaced by `***` in every formatted
line, whatever code logged them: in each field before it is encoded (a secret with a
quote or a backslash in it is escaped by JSON) and in the line after.
"""

from __future__ import annotations

import logging
import logging.handlers
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_secrets: set[str] = set()


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
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
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


def setup_logging(path: Path, level: str = "INFO", secrets: Iterable[str] = ()) -> Path:
    """Send all logs to `path` (rotated, 10 MB x 5) and nowhere else; `secrets` are
    never written (`register_secret`)."""
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
    logging.captureWarnings(True)
    return path
