"""The base of every dialog: the dialog over the desk, with a key bar of its own."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.screen import ModalScreen, ScreenResultType

from ..widgets.keybar import KeyBar

QUIT_DIALOG_ID = "quit"
"""The quit dialog's id (`QuitScreen`), for the app, which does not import that module
before the session."""


class Dialog(ModalScreen[ScreenResultType]):
    """Under a dialog the desk's keys do nothing (`SilvertineApp.check_action`, and the
    focus is in the dialog), yet the desk's key bar stays drawn underneath, listing
    them: `f9 Send` under "Send BUY 0.25?". A dialog draws its own bar over that line:
    its keys, and the app's that still answer under it (the kill switch, ctrl+c)."""

    key_words: Mapping[str, str] = {}
    """What this dialog's bar calls an action, where the key map's word would mislead
    (`y KILL`, not `y Yes`, under a button that says KILL): set before compose."""

    def compose(self) -> ComposeResult:
        yield from self.compose_dialog()
        yield KeyBar(words=self.key_words, id="dialog-keys")

    def compose_dialog(self) -> ComposeResult:
        """The dialog itself."""
        raise NotImplementedError

    def follow_desk(self) -> None:
        """Called after each frame of the desk underneath (`SilvertineApp.frame`): a
        dialog about something that may change meanwhile (an order) says so."""
