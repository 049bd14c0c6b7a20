"""A one-line, focusable choice: `< LIMIT >`. Left/right/space cycle; a click cycles."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class Choice(Widget, can_focus=True):
    DEFAULT_CSS = """
    Choice { height: 1; width: 1fr; }
    Choice:focus { background: $accent 30%; }
    """
    BINDINGS = [
        Binding("right,space,l", "step(1)", "Next", show=False),
        Binding("left,h", "step(-1)", "Previous", show=False),
    ]

    index: reactive[int] = reactive(0)

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(
        self, options: Sequence[str], value: str | None = None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.options: list[str] = list(options)
        if value is not None and value in self.options:
            self.set_reactive(Choice.index, self.options.index(value))

    @property
    def value(self) -> str:
        return self.options[self.index] if self.options else ""

    @value.setter
    def value(self, value: str) -> None:
        if value in self.options:
            self.index = self.options.index(value)

    def set_options(self, options: Sequence[str]) -> None:
        current = self.value
        self.options = list(options)
        self.index = self.options.index(current) if current in self.options else 0
        self.refresh()

    def render(self) -> Text:
        label = self.value or "-"
        text = Text(f"< {label} >", no_wrap=True)
        text.stylize("bold", 2, 2 + len(label))
        return text

    def action_step(self, delta: int) -> None:
        if self.options:
            self.index = (self.index + delta) % len(self.options)

    def watch_index(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, self.value))

    def on_click(self, event: events.Click) -> None:
        self.action_step(1)
