"""Every key, by where it works, with the keymap applied."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..keymap import SCOPES, SPECS, bindings, display_keys, keys_for
from .dialog import Dialog


def help_table(keymap: Mapping[str, str]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True, min_width=16)
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_column(no_wrap=True, style="dim")
    for scope, title in SCOPES.items():
        specs = [s for s in SPECS if s.scope == scope]
        if not specs:
            continue
        table.add_row(Text(title, style="bold underline"), "", "", "")
        for spec in specs:
            table.add_row(
                Text(display_keys(keys_for(spec.id, keymap)), style="bold"),
                spec.description,
                spec.help,
                spec.id,
            )
        table.add_row("", "", "", "")
    return table


class HelpScreen(Dialog[None]):
    BINDINGS = bindings("view")

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = dict(keymap)

    def compose_dialog(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-wide -tall"):
            yield Static("Keys - remap any id with ui.keymap in the config", id="dialog-title")
            with VerticalScroll(id="help-body"):
                yield Static(help_table(self.keymap))
            yield Static(
                "Mouse works too. ctrl+p: command palette.  esc: close",
                id="dialog-hint",
                markup=False,
            )

    def action_close(self) -> None:
        self.dismiss(None)
