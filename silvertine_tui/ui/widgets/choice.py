"""A one-line, focusable choice: `< LIMIT >`. Left/right/space cycle, a letter picks
the option it starts, a click cycles."""

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
        Binding("right,space", "step(1)", "Next", show=False),
        Binding("left", "step(-1)", "Previous", show=False),
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

    def pick(self, letter: str) -> bool:
        """The next option after the current one that starts with `letter` (any case),
        round the list: `s` on BUY gives SELL, `s` again on a type STOP then
        STOP_LIMIT. False, and nothing changes, when no option starts with it."""
        letter = letter.casefold()
        count = len(self.options)
        for step in range(1, count + 1):
            at = (self.index + step) % count
            if self.options[at][:1].casefold() == letter:
                self.index = at
                return True
        return False

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Every printable key is this field's (`on_key`): the key bar then lists no
        desk key that would not answer here (`b Buy`, `q Quit`: ctrl+c is shown)."""
        return character is not None and character.isprintable()

    def on_key(self, event: events.Key) -> None:
        """A printable key is this field's, as a text field's is: a letter picks an
        option (`pick`); any other (a digit, a letter no option starts with) rings the
        bell. A desk key never leaves the field: on the Side choice `s` opened a fresh
        sell ticket over the one being filled in, and a digit switched panes."""
        character = event.character
        if not event.is_printable or character is None or character == " ":
            return  # space steps (its binding); ctrl, function and arrow keys go on
        event.stop()
        event.prevent_default()
        if not (character.isalpha() and self.pick(character)):
            self.app.bell()

    def watch_index(self, old: int, new: int) -> None:
        if old != new:
            self.post_message(self.Changed(self, self.value))

    def on_click(self, event: events.Click) -> None:
        self.action_step(1)
