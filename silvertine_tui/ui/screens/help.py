"""Every key, by where it works, with the keymap applied."""

from __future__ import annotations

from collections.abc import Mapping

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..keymap import SCOPES, SPECS, bindings, display_keys, key_text, keys_for
from .dialog import Dialog


def help_table(keymap: Mapping[str, str]) -> Group:
    """Every key by scope: a title line, then one row a key. The columns have the
    same widths in every scope, sized by the keys and names alone: a scope's title on
    the first column's row made it 28 wide, and at 80x24 the help text wrapped a word
    a line."""
    keys = {spec.id: display_keys(keys_for(spec.id, keymap)) for spec in SPECS}
    key_width = max(cell_len(k) for k in keys.values())
    name_width = max(cell_len(spec.description) for spec in SPECS)
    id_width = max(cell_len(spec.id) for spec in SPECS)
    parts: list[Text | Table] = []
    for scope, title in SCOPES.items():
        specs = [s for s in SPECS if s.scope == scope]
        if not specs:
            continue
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column(no_wrap=True, width=key_width)
        table.add_column(no_wrap=True, width=name_width)
        table.add_column(ratio=1)
        table.add_column(no_wrap=True, width=id_width, style="dim")
        for spec in specs:
            table.add_row(Text(keys[spec.id], style="bold"), spec.description, spec.help, spec.id)
        parts += [Text(title, style="bold underline"), table, Text("")]
    return Group(*parts[:-1])


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
            palette, close = (key_text(k, self.keymap) for k in ("app.palette", "view.close"))
            yield Static(
                f"Mouse works too. {palette}: command palette.  {close}: close",
                id="dialog-hint",
                markup=False,
            )

    def action_close(self) -> None:
        self.dismiss(None)
