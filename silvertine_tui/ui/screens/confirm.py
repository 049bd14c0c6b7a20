"""A yes/no dialog for anything that sends money or stops trading."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from ..keymap import bindings, named_key
from .dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    BINDINGS = bindings("modal")

    def __init__(
        self, title: str, body: str, *, confirm_label: str = "Yes", danger: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.danger = danger
        self._answered = False

    def compose_dialog(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger" if self.danger else ""):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.body, id="dialog-body", markup=False)
            with Horizontal(id="dialog-buttons"):
                yes = named_key(self, "modal.confirm", every=True)
                no = named_key(self, "modal.cancel", every=True)
                yield Button(f"{self.confirm_label} ({yes})", id="yes", compact=True)
                yield Button(f"Cancel ({no})", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def _answer(self, value: bool) -> None:
        if self._answered:  # a second key press never answers twice
            return
        self._answered = True
        self.dismiss(value)

    def action_confirm(self) -> None:
        self._answer(True)

    def action_dismiss_no(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self._answer(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self._answer(False)
