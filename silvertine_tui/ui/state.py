"""The user state file: choices the UI remembers across runs (the theme).

`$XDG_STATE_HOME/silvertine/state.json` (`~/.local/state/silvertine/state.json`), or
the path given to `UserState` (tests). A missing or unreadable file is an empty state,
never an error; writes go to a temporary file renamed over the old one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..config import state_home

log = logging.getLogger(__name__)


def default_state_path() -> Path:
    return state_home() / "state.json"


class StateData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    theme: str | None = None


class UserState:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_state_path()
        self.data = self._load()

    def _load(self) -> StateData:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except OSError:
            return StateData()
        try:
            return StateData.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            log.warning("ui.state_unreadable", extra={"path": str(self.path)})
            return StateData()

    @property
    def theme(self) -> str | None:
        return self.data.theme

    def remember_theme(self, name: str) -> None:
        self.data = self.data.model_copy(update={"theme": name})

    def save(self) -> None:
        """Write the file (call it from a thread: it touches the disk)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(self.data.model_dump_json(indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("ui.state_not_saved", extra={"path": str(self.path), "error": str(exc)})
