"""Moving the keyboard's focus before the next key is handled."""

from __future__ import annotations

from textual.dom import NoScreen
from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Give `widget` the keyboard at once.

    Textual's `Widget.focus` moves the focus later (`call_later`), behind every message
    already waiting, keys included. The terminal's reader posts at once every key one
    read brought (a quick typist, one SSH packet): `b` then `10` had the 1 and the 0
    handled by the quotes (1 is the key for pane 1), and `esc` then `s` typed the s
    into the ticket's field it had just left. The screen's own `set_focus` changes
    where the next key goes before that key is handled.
    """
    try:
        screen = widget.screen
    except NoScreen:
        widget.focus()  # not on a screen yet: Textual's way, once it is
        return
    screen.set_focus(widget)
