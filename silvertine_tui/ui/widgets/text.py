"""A block of text that repaints in place: the screen is laid out again only when its
number of lines changes (a `Static.update` lays out the whole screen every time)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class TextBlock(Widget):
    DEFAULT_CSS = """
    TextBlock { height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text()
        self._lines = 0

    @property
    def text(self) -> Text:
        return self._text

    def set_text(self, text: Text | str) -> None:
        new = Text(text) if isinstance(text, str) else text
        if new == self._text:
            return
        width = max(1, self.size.width or 80)
        lines = len(new.wrap(self.app.console, width)) if new.plain else 0
        self._text = new
        self.refresh(layout=lines != self._lines)
        self._lines = lines

    def render(self) -> Text:
        return self._text

    def on_resize(self) -> None:
        self._lines = -1
        self.refresh(layout=True)
