"""The bottom line: the keys that work here, drawn as one line of text.

Textual's `Footer` recomposes (a screen layout and a full repaint) whenever the focus
moves; over SSH that is a whole screen of bytes per key press. This bar repaints one
line. A click on a key runs its action, like the footer.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual import events
from textual.actions import parse as parse_action
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

ALWAYS_SHOWN = frozenset({"help", "kill", "quit"})
"""Shown at any width: the way to help, the kill switch and the way out."""
PAIRED = frozenset({"buy", "sell"})
"""Shown both or neither: `b Buy` without `s Sell` read as selling not being there."""
LINES_KEPT = 16  # the bars of the panes' key sets, at the current width and theme


BORROWED_WORDS = {"escape": "Close"}
"""What a key of a screen without a bar of its own is called on the bar under it (the
command palette's `esc`: `Exit the command palette` took half the bar at 80 columns)."""


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(
        self,
        *,
        label: str = "",
        hidden: frozenset[str] = frozenset(),
        words: Mapping[str, str] | None = None,
        id: str | None = None,
    ) -> None:
        """`label`: said first, at any width (`WATCHING` on a watching desk: the header
        may have no room for it). `hidden`: actions not listed, though their keys still
        answer (a watching desk's cancel, modify, cancel all and send say why they send
        nothing: listed, they took the room of the keys that work there). `words`: what
        an action is called here where the key map's word would mislead (a dialog's
        `y` reads as its button, `y KILL`, not the generic `Yes`)."""
        super().__init__(id=id)
        self.label = label
        self.hidden = hidden
        self.words: Mapping[str, str] = words or {}
        self.urgent: frozenset[str] = frozenset()
        """Actions kept ahead of the other keys, as `ALWAYS_SHOWN` are, while the desk
        needs them (`set_precedence`): resume while trading is HALTED or REDUCE ONLY."""
        self.spare: frozenset[str] = frozenset()
        """Actions shown only where every other key fits: resume while trading is
        ACTIVE (in the ticket at 80 columns it took the theme's room)."""
        self._spans: list[tuple[int, int, Binding]] = []
        self._lines: dict[object, tuple[list[Strip], list[tuple[int, int, Binding]]]] = {}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)
        self.app.screen_change_signal.unsubscribe(self)

    def _screen_changed(self, _screen: Screen[object]) -> None:
        if self.is_attached:
            self.refresh()

    def keys_screen(self) -> Screen[object]:
        """The screen whose keys the bar lists: its own, or one over it that has no bar
        of its own and leaves this one in sight (the command palette). Over the desk the
        palette's bar listed the desk's keys (`f9 Send  ^s Buy/Sell  ^u Clear ...` from
        the ticket), none of which does anything while the palette has the keyboard."""
        screen = self.screen
        try:
            top = self.app.screen
        except Exception:  # no screen stack (the app closing)
            return screen
        if top is screen or not top.is_modal or top.query(KeyBar):
            return screen
        return top

    def set_precedence(
        self, *, urgent: frozenset[str] = frozenset(), spare: frozenset[str] = frozenset()
    ) -> None:
        """From now on: the actions that go ahead of the other keys, and those that
        give way to them."""
        if (urgent, spare) != (self.urgent, self.spare):
            self.urgent, self.spare = urgent, spare
            self.refresh()

    def _changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.keys_screen():
            self.refresh()

    def _active(self) -> list[tuple[DOMNode, Binding, bool]]:
        """The bindings a key press reaches here, with the node that answers each.

        On a dialog Textual lists only the dialog's (`Screen.active_bindings` stops at
        the modal screen), yet keys bound with priority are looked up from the app down,
        past the dialog (`App._check_bindings`): the kill switch and ctrl+c work in every
        dialog, so the bar shows them.

        In the order of the chain from the focused widget up, each node's keys as it
        lists them. `active_bindings` puts a priority key where the focused widget's own
        key of the same name was: in a ticket's text field (which binds ctrl+u and
        ctrl+x itself) the bar read `^u Clear ^x Cancel all f9 Send`, in its choice
        fields `f9 Send ^s Buy/Sell ^u Clear`: the keys moved under the trader's eye
        with the focus."""
        screen = self.keys_screen()
        place = {
            id(binding): (depth, at)
            for depth, (_node, bindings_map) in enumerate(screen._modal_binding_chain)
            for at, (_key, binding) in enumerate(bindings_map)
        }
        active = sorted(
            (
                (node, binding, enabled)
                for node, binding, enabled, _tooltip in screen.active_bindings.values()
            ),
            key=lambda entry: place.get(id(entry[1]), (len(place), 0)),
        )
        if screen.is_modal:
            chain = screen._binding_chain
            for node, bindings_map in chain[len(screen._modal_binding_chain) :]:
                for _key, binding in bindings_map:
                    if not binding.priority:
                        continue
                    _namespace, action, parameters = parse_action(binding.action)
                    state = node.check_action(action, parameters)
                    if state is not False:
                        active.append((node, binding, bool(state)))
        return active

    def bindings(self) -> list[tuple[Binding, bool]]:
        seen: set[str] = set()
        out = []
        hidden: dict[str, tuple[Binding, bool]] = {}
        for _node, binding, enabled in self._active():
            if binding.action in self.hidden:
                continue
            if not binding.show:
                # By a key of the keymap (the help lists those), not Textual's own
                # ctrl+q, which quits too.
                kept = hidden.get(binding.action)
                if binding.action in ALWAYS_SHOWN and (kept is None or kept[0].id is None):
                    hidden[binding.action] = (binding, enabled)
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            out.append((binding, enabled))
        # Where `q` types a letter (the ticket), quit is still shown: by its other key.
        out.extend(entry for action, entry in hidden.items() if action not in seen)
        return out

    def render(self) -> Text:
        text, self._spans = self._text(self._fitting(self.size.width))
        return text

    def _text(
        self, fitting: list[tuple[Binding, bool, str]]
    ) -> tuple[Text, list[tuple[int, int, Binding]]]:
        variables = self.app.theme_variables
        key_style = Style.parse(variables.get("footer-key-foreground", "yellow")) + Style(bold=True)
        text = Text(no_wrap=True, overflow="crop")
        if self.label:
            warn = Style.parse(variables.get("warning", "yellow"))
            text.append(f" {self.label} ", style=warn + Style(bold=True, reverse=True))
        spans = []
        for binding, enabled, key in fitting:
            start = text.cell_len
            text.append(f" {key}", style=key_style if enabled else Style(dim=True))
            text.append(f" {self._word(binding)} ", style="" if enabled else Style(dim=True))
            spans.append((start, text.cell_len, binding))
        return text, spans

    def render_line(self, y: int) -> Strip:
        """The line as Textual draws `render()`'s text, kept for the keys it shows: the
        focus moves between the quotes and the ticket at every `b`/`s` and `esc`, and
        the bar was drawn again each time (the most costly widget in that key's pass)."""
        width, height = self.size
        style = self.visual_style
        fitting = self._fitting(width)
        key = (tuple(fitting), width, height, self.app.theme, style)
        kept = self._lines.get(key)
        if kept is None:
            text, spans = self._text(fitting)
            visual = visualize(self, text, markup=self._render_markup)
            kept = (Visual.to_strips(self, visual, width, height, style), spans)
            if len(self._lines) >= LINES_KEPT:
                self._lines.clear()
            self._lines[key] = kept
        strips, self._spans = kept
        return strips[y] if y < len(strips) else Strip.blank(width, style.rich_style)

    def _word(self, binding: Binding) -> str:
        word = self.words.get(binding.action)
        if word is None and self.keys_screen() is not self.screen:
            word = BORROWED_WORDS.get(binding.action)
        return word or binding.description

    def _fitting(self, width: int) -> list[tuple[Binding, bool, str]]:
        """The keys that fit the width, in order; help, the kill switch and quit always
        (a trader on a small terminal must find the emergency stop and the way out), and
        the urgent ones (resume on a HALTED desk: the key a trader needs then, ahead of
        the theme's), the others while they fit (buy and sell both or neither), the
        spare ones last (each still in its place on the line)."""
        entries = [
            (binding, enabled, self.app.get_key_display(binding))
            for binding, enabled in self.bindings()
        ]

        def cost(entry: tuple[Binding, bool, str]) -> int:
            return len(entry[2]) + len(self._word(entry[0])) + 3

        if width <= 0:
            return entries
        width -= len(self.label) + 2 if self.label else 0
        kept = ALWAYS_SHOWN | self.urgent
        reserved = sum(cost(e) for e in entries if e[0].action in kept)
        used = 0
        shown: set[int] = set()
        pair = [at for at, e in enumerate(entries) if e[0].action in PAIRED]
        for at, entry in enumerate(entries):
            if entry[0].action in kept:
                shown.add(at)
                used += cost(entry)
                reserved -= cost(entry)
            elif at in pair:
                # Both at the first of them, if both fit.
                both = sum(cost(entries[i]) for i in pair)
                if at == pair[0] and used + both + reserved <= width:
                    shown.update(pair)
                    used += both
            elif entry[0].action not in self.spare and used + cost(entry) + reserved <= width:
                shown.add(at)
                used += cost(entry)
        for at, entry in enumerate(entries):
            spare = at not in shown and entry[0].action in self.spare
            if spare and used + cost(entry) <= width:
                shown.add(at)
                used += cost(entry)
        return [entry for at, entry in enumerate(entries) if at in shown]

    def on_click(self, event: events.Click) -> None:
        for start, end, binding in self._spans:
            if start <= event.x < end:
                self.run_action_for(binding)
                return

    def run_action_for(self, binding: Binding) -> None:
        for node, active, _enabled in self._active():
            if active is binding:
                self.call_later(self.app.run_action, binding.action, node)
                return
