"""A yes/no dialog for anything that sends money or stops trading."""

from __future__ import annotations

from collections.abc import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, Static

from ..format import shown
from ..keymap import BY_ID, bindings, named_key
from .dialog import Dialog


class ConfirmScreen(Dialog[bool]):
    BINDINGS = bindings("modal")

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm_label: str = "Yes",
        danger: bool = False,
        moved: Callable[[], str | None] | None = None,
        note: Callable[[], str] | None = None,
    ) -> None:
        """`moved`: asked after each frame of the desk, what changed since the dialog
        asked (`trading is HALTED meanwhile`) or None. Once it says, the dialog says so
        and its answer is no: the question was about a desk that is no more.
        `note`: asked as the dialog opens and after each frame, what the answer would
        do differently now ("" when nothing: the kill switch with the bus down); it
        shows under the body, and the answer stands."""
        super().__init__()
        self.title_text = shown(title)  # an order's symbol, a venue's words: `shown`
        self.body = shown(body, lines=True)
        self.confirm_label = confirm_label
        self.danger = danger
        self.moved = moved
        self.note = note
        self.noted = note() if note is not None else ""
        self.stale = ""
        self._answered = False
        # The key bar names `y` as the button does: `y KILL`, not `y Yes`.
        self.key_words = {"confirm": confirm_label}

    def compose_dialog(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger" if self.danger else ""):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.body, id="dialog-body", markup=False)
            said = Static(shown(self.noted, lines=True), id="dialog-note", markup=False)
            said.display = bool(self.noted)
            yield said
            yield Static("", id="dialog-moved", markup=False)
            with Horizontal(id="dialog-buttons"):
                yes = named_key(self, "modal.confirm", every=True)
                no = named_key(self, "modal.cancel", every=True)
                yield Button(f"{self.confirm_label} ({yes})", id="yes", compact=True)
                # As the key bar names it: "Cancel" over orders read as cancelling them.
                yield Button(f"{BY_ID['modal.cancel'].description} ({no})", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def _answer(self, value: bool) -> None:
        if self._answered:  # a second key press never answers twice
            return
        self._answered = True
        self.dismiss(value)

    def follow_desk(self) -> None:
        self._follow_note()
        if self.moved is None or self.stale:
            return
        moved = self.moved()
        if moved is None:
            return
        self.stale = moved
        yes, no = named_key(self, "modal.confirm"), named_key(self, "modal.cancel")
        said = self.query_one("#dialog-moved", Static)
        said.update(f"{moved}: asked of the desk as it was, so {yes} changes nothing. {no}: close")
        said.display = True
        self.query_one("#yes", Button).disabled = True
        self.query_one("#no", Button).focus()
        self.refresh_bindings()  # the key bar shows `y` off, as the button

    def _follow_note(self) -> None:
        if self.note is None:
            return
        noted = self.note()
        if noted == self.noted:
            return
        try:
            said = self.query_one("#dialog-note", Static)
        except NoMatches:  # a desk frame before the dialog is composed: it says it then
            return
        self.noted = noted
        said.update(shown(noted, lines=True))
        said.display = bool(noted)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm" and self.stale:
            return None  # listed, dimmed: the question is about a desk that is no more
        return True

    def on_key(self, event: events.Key) -> None:
        """The confirm key of a dialog whose desk moved (its binding off, so the key
        reaches here): the bell, so the press is not taken for an answer."""
        found = self.active_bindings.get(event.key)
        if self.stale and found is not None and found.binding.action == "confirm":
            event.stop()
            self.app.bell()

    def action_confirm(self) -> None:
        self.follow_desk()  # the desk as it is now, not as at the last frame
        if self.stale:
            self.app.bell()
            return
        self._answer(True)

    def action_dismiss_no(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self._answer(False)
