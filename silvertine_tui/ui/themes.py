"""Theme files: TOML in `themes/`, parsed with pydantic, turned into Textual themes.

A file names the Textual base colours and the trading colours every widget uses:

    name = "silvertine-dark"
    dark = true
    [colors]       # primary, secondary, accent, warning, error, success,
                   # foreground, background, surface, panel (boost optional)
    [trading]      # bid, ask, pnl-up, pnl-down, paper, live, stale, halted
    [variables]    # optional extra Textual variables (e.g. footer-key-foreground)

Where the files come from (first hit wins per theme name, later directories add):
an explicit directory, the repository's `themes/` (a checkout or an editable install),
`<prefix>/share/silvertine/themes` (a wheel install, see docs/ui.md) and the user's
`$XDG_CONFIG_HOME/silvertine/themes`.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

if TYPE_CHECKING:
    from ..config import UIConfig

TRADING_VARIABLES = ("bid", "ask", "pnl-up", "pnl-down", "paper", "live", "stale", "halted")

# Used when a theme (or Textual's own built-in themes) lacks a trading colour, so the
# CSS always parses. 16-colour friendly values.
TRADING_DEFAULTS: dict[str, str] = {
    "bid": "#3fb950",
    "ask": "#f85149",
    "pnl-up": "#3fb950",
    "pnl-down": "#f85149",
    "paper": "#2f81f7",
    "live": "#da3633",
    "stale": "#808080",
    "halted": "#ff0000",
}

DEFAULT_THEME = "silvertine-dark"


def _check_color(value: str) -> str:
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ValueError(f"not a colour: {value!r} ({exc})") from None
    return value


def _check_variable(name: str, value: str) -> str:
    """A `[variables]` value as Textual's CSS takes it where the variable is used: a
    text style for `*-style*` names (`block-cursor-text-style = "bold"`, `link-style`),
    else a colour with an optional alpha (`#ffd75f`, `ansi_default`, `$primary`'s
    `"#4c9be8 50%"`, `"auto 87%"`). A bad one was loaded and crashed the desk at start
    (`StyleSyntaxError`, exit 6) instead of the file being skipped."""
    from textual.css.errors import DeclarationError
    from textual.css.parse import parse_declarations
    from textual.css.tokenizer import TokenError

    prop = "text-style" if "style" in name.split("-") else "color"
    if prop == "text-style":
        what = "a text style (bold, italic, underline, reverse, none...)"
    else:
        what = "a colour (#rrggbb, a name, ansi_red...), with an alpha or not (#4c9be8 50%)"
    problem = f"{name}: {value!r} is not {what}"
    if not value.strip() or any(c in value for c in ";{}$"):
        raise ValueError(problem)  # (one value: no declaration or variable in it)
    try:
        parse_declarations(f"{prop}: {value};", read_from=("theme", name))
    except (DeclarationError, TokenError, ValueError):
        raise ValueError(problem) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BaseColors(_Strict):
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None

    @field_validator("*")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else _check_color(value)


class TradingColors(_Strict):
    bid: str
    ask: str
    pnl_up: str = Field(alias="pnl-up")
    pnl_down: str = Field(alias="pnl-down")
    paper: str
    live: str
    stale: str
    halted: str

    @field_validator("*")
    @classmethod
    def _colour(cls, value: str) -> str:
        return _check_color(value)

    def as_variables(self) -> dict[str, str]:
        return {
            "bid": self.bid,
            "ask": self.ask,
            "pnl-up": self.pnl_up,
            "pnl-down": self.pnl_down,
            "paper": self.paper,
            "live": self.live,
            "stale": self.stale,
            "halted": self.halted,
        }


class ThemeFile(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    label: str = ""
    dark: bool = True
    colors: BaseColors
    trading: TradingColors
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _check_variable(name, text)
        return value

    def to_theme(self) -> Theme:
        c = self.colors
        return Theme(
            name=self.name,
            primary=c.primary,
            secondary=c.secondary,
            accent=c.accent,
            warning=c.warning,
            error=c.error,
            success=c.success,
            foreground=c.foreground,
            background=c.background,
            surface=c.surface,
            panel=c.panel,
            boost=c.boost,
            dark=self.dark,
            variables={**self.variables, **self.trading.as_variables()},
        )


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and the field."""


def load_theme_file(path: Path) -> ThemeFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ThemeFileError(f"{path.name}: {exc}") from None
    try:
        return ThemeFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        raise ThemeFileError(f"{path.name}: {problems}") from None


@dataclass(frozen=True, slots=True)
class LoadedThemes:
    themes: dict[str, ThemeFile]
    problems: list[str]

    def textual_themes(self) -> list[Theme]:
        return [t.to_theme() for t in self.themes.values()]


def default_theme_dirs() -> list[Path]:
    """The repository's `themes/`, the installed data files, the user's own."""
    here = Path(__file__).resolve()
    dirs = [here.parents[2] / "themes", Path(sys.prefix) / "share" / "silvertine" / "themes"]
    dirs.append(user_theme_dir())
    return dirs


def user_theme_dir() -> Path:
    """`$XDG_CONFIG_HOME/silvertine/themes` (`~/.config/silvertine/themes`)."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "silvertine" / "themes"


def load_themes(dirs: Iterable[Path] | None = None) -> LoadedThemes:
    """Every `*.toml` theme in `dirs` (default: `default_theme_dirs()`). Bad files are
    reported in `problems`, never fatal: the app must start."""
    found: dict[str, ThemeFile] = {}
    problems: list[str] = []
    for directory in default_theme_dirs() if dirs is None else dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                # Not logged here: the CLI reads the themes before logging is set up
                # (the warning went to the terminal, under the UI); it logs `problems`
                # once the log is there (`cli._log_theme_problems`), the desk toasts them.
                problems.append(str(exc))
                continue
            found.setdefault(theme.name, theme)
    return LoadedThemes(found, problems)


def theme_problem(name: str, loaded: LoadedThemes) -> str:
    """Why `name` is not one of the `loaded` themes, naming those that are ("" when it
    is one). Themes are named by the `name` in their file, not by the file's name."""
    if name in loaded.themes:
        return ""
    known = ", ".join(sorted(loaded.themes)) or "none (no theme file could be read)"
    text = f"unknown theme {name!r}; known themes: {known}"
    if loaded.problems:
        text += f" (theme files skipped: {'; '.join(loaded.problems)})"
    return f"{text}. Your own theme files go in {user_theme_dir()} (docs/ui.md, Themes)."


def asked_theme_problems(
    theme: str | None, ui: UIConfig, loaded: LoadedThemes, *, argument: str
) -> list[tuple[str, str]]:
    """(what asked, why) for each theme asked for that names none of `loaded`: `theme`
    (the command line's, said as `argument`) and `ui.theme` when the config sets it.
    The CLI refuses them (exit 2); an app built otherwise says the first."""
    asked = [(argument, theme)]
    if "theme" in ui.model_fields_set:
        asked.append(("ui.theme", ui.theme))
    found = [(field, theme_problem(name, loaded)) for field, name in asked if name]
    return [(field, problem) for field, problem in found if problem]


def pick_theme(candidates: Sequence[str | None], available: Iterable[str]) -> str:
    """The first candidate that exists, else the default, else any."""
    names = list(available)
    for name in candidates:
        if name and name in names:
            return name
    if DEFAULT_THEME in names:
        return DEFAULT_THEME
    return names[0] if names else "textual-dark"
