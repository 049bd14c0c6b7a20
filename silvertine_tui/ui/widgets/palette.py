"""Rich styles for table cells, built from the current theme's trading colours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from rich.style import Style

from ..format import rounded
from ..themes import TRADING_DEFAULTS


@dataclass(frozen=True, slots=True)
class Palette:
    bid: Style
    ask: Style
    up: Style
    down: Style
    stale: Style
    halted: Style
    paper: Style
    live: Style
    plain: Style
    muted: Style
    warn: Style
    error: Style
    ok: Style
    accent: Style

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Palette:
        def colour(name: str, fallback: str) -> str:
            value = variables.get(name) or TRADING_DEFAULTS.get(name) or fallback
            return value.split()[0]  # "red 50%" -> "red"

        def style(
            name: str, fallback: str = "default", *, bold: bool = False, dim: bool = False
        ) -> Style:
            try:
                return Style(color=colour(name, fallback), bold=bold, dim=dim)
            except Exception:  # a colour Rich cannot parse: keep the text readable
                return Style(bold=bold, dim=dim)

        return cls(
            bid=style("bid"),
            ask=style("ask"),
            up=style("pnl-up"),
            down=style("pnl-down"),
            stale=style("stale", dim=True),
            halted=style("halted", bold=True),
            paper=style("paper", bold=True),
            live=style("live", bold=True),
            plain=Style(),
            muted=style("foreground-muted", "grey50"),
            warn=style("warning", "yellow"),
            error=style("error", "red"),
            ok=style("success", "green"),
            accent=style("accent", "cyan"),
        )

    def pnl(self, value: Decimal | None, places: int = 2) -> Style:
        """Up or down by the sign of `value` as shown at `places` (one that rounds to
        `0.00` is plain, as its text is)."""
        if value is None:
            return self.plain
        shown = rounded(value, places)
        if shown == 0:
            return self.plain
        return self.up if shown > 0 else self.down


DEFAULT_PALETTE = Palette.from_variables({})
