"""The bottom line: the keys that work here, drawn as one line of text.

Textual's `Footer` recomposes (a screen layout and a full repaint) whenever the focus
moves; over SSH that is a whole screen of bytes per key press. This bar repaints one
line. A click on a key runs its action, like the footer.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

ALWAYS_SHOWN = frozenset({"help", "quit"})


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, Binding]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def bindings(self) -> list[tuple[Binding, bool]]:
        seen: set[str] = set()
        out = []
        hidden: dict[str, tuple[Binding, bool]] = {}
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show:
                if binding.action in ALWAYS_SHOWN:
                    hidden.setdefault(binding.action, (binding, enabled))
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((binding, enabled))
        # Where `q` types a letter (the ticket), quit is still shown: by its other key.
        out.extend(entry for action, entry in hidden.items() if action not in seen)
        return out

    def render(self) -> Text:
        variables = self.app.theme_variables
        key_style = Style.parse(variables.get("footer-key-foreground", "yellow")) + Style(bold=True)
        text = Text(no_wrap=True, overflow="crop")
        self._spans = []
        for binding, enabled, key in self._fitting(self.size.width):
            start = text.cell_len
            text.append(f" {key}", style=key_style if enabled else Style(dim=True))
            text.append(f" {binding.description} ", style="" if enabled else Style(dim=True))
            self._spans.append((start, text.cell_len, binding))
        return text

    def _fitting(self, width: int) -> list[tuple[Binding, bool, str]]:
        """The keys that fit the width, in order; help and quit always (a trader on a
        small terminal must find the way out), the others while they fit."""
        entries = [
            (binding, enabled, self.app.get_key_display(binding))
            for binding, enabled in self.bindings()
        ]

        def cost(entry: tuple[Binding, bool, str]) -> int:
            return len(entry[2]) + len(entry[0].description) + 3

        if width <= 0:
            return entries
        reserved = sum(cost(e) for e in entries if e[0].action in ALWAYS_SHOWN)
        used = 0
        out = []
        for entry in entries:
            if entry[0].action in ALWAYS_SHOWN:
                out.append(entry)
                used += cost(entry)
                reserved -= cost(entry)
            elif used + cost(entry) + reserved <= width:
                out.append(entry)
                used += cost(entry)
        return out

    def on_click(self, event: events.Click) -> None:
        for start, end, binding in self._spans:
            if start <= event.x < end:
                self.run_action_for(binding)
                return

    def run_action_for(self, binding: Binding) -> None:
        for node, active, _enabled, _tooltip in self.screen.active_bindings.values():
            if active is binding:
                self.call_later(self.app.run_action, binding.action, node)
                return
