"""Every key binding of the UI, by id, in one table.

Widgets and screens take their `BINDINGS` from here (`bindings(scope)`), the help
screen lists this table, and `ui.keymap` in the config remaps any id
(`{"app.kill_switch": "ctrl+k"}`), applied with `App.set_keymap`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from textual._keyboard_protocol import FUNCTIONAL_KEYS
from textual.binding import Binding, BindingType
from textual.keys import (
    REPLACED_KEYS,
    Keys,
    _character_to_key,
    _normalize_key_list,
    key_to_character,
)

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

PANES: tuple[tuple[str, str], ...] = (
    ("watchlist", "Quotes"),
    ("ticket", "Ticket"),
    ("blotter", "Orders"),
    ("positions", "Positions"),
    ("balances", "Balances"),
    ("health", "Health"),
    ("log", "Log"),
    ("signals", "Signals"),
)


@dataclass(frozen=True, slots=True)
class KeySpec:
    id: str
    keys: str
    action: str
    description: str
    scope: str
    show: bool = True
    priority: bool = False
    help: str = ""

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            id=self.id,
        )


SCOPES: dict[str, str] = {
    "app": "Anywhere",
    "ticket": "Order ticket",
    "watchlist": "Quotes",
    "blotter": "Working orders",
    "positions": "Positions",
    "signals": "Signals",
    "log": "Fills and event log",
    "modal": "Dialogs",
    "view": "Help and order history",
    "modify": "Modifying an order",
    "quit": "Quitting with working orders",
}

SPECS: tuple[KeySpec, ...] = (
    # -- anywhere ---------------------------------------------------------------------
    KeySpec("app.help", "f1,question_mark", "help", "Help", "app", help="this screen"),
    KeySpec("app.palette", "ctrl+p", "command_palette", "Commands", "app", show=False),
    KeySpec(
        "ticket.buy", "b", "buy", "Buy", "app", help="ticket: buy the selected quote at the ask"
    ),
    KeySpec(
        "ticket.sell", "s", "sell", "Sell", "app", help="ticket: sell the selected quote at the bid"
    ),
    KeySpec(
        "app.cancel_all",
        "ctrl+x",
        "cancel_all",
        "Cancel all",
        "app",
        priority=True,  # before a ticket field's own ctrl+x (cut): the key bar shows it
        help="confirmed",
    ),
    KeySpec(
        "app.kill_switch",
        "ctrl+backslash",
        "kill",
        "KILL",
        "app",
        priority=True,
        help="cancel every order on every broker and HALT (confirmed)",
    ),
    KeySpec("app.resume", "ctrl+r", "resume", "Resume", "app", help="leave HALTED (confirmed)"),
    KeySpec("app.theme", "f6", "next_theme", "Theme", "app", help="next theme (remembered)"),
    KeySpec("app.next_pane", "f2", "next_pane", "Pane", "app", show=False, help="next pane"),
    KeySpec("app.zoom", "z,f11", "zoom", "Zoom", "app", help="zoom the active pane / back"),
    *(
        KeySpec(
            f"pane.{name}",
            str(n),
            f"show_pane('{name}')",
            label,
            "app",
            show=False,
            help=f"go to {label.lower()}",
        )
        for n, (name, label) in enumerate(PANES, start=1)
    ),
    KeySpec("app.quit", "q", "quit", "Quit", "app"),
    KeySpec("app.quit_ctrl_c", "ctrl+c", "quit", "Quit", "app", show=False, priority=True),
    # -- ticket -------------------------------------------------------------------------
    KeySpec("ticket.fire", "f9", "fire", "Send", "ticket", help="send the order (enter too)"),
    KeySpec(
        "ticket.flip",
        "ctrl+s",
        "flip_side",
        "Buy/Sell",
        "ticket",
        help="flip the side (a prefilled price takes the new side's)",
    ),
    KeySpec(
        "ticket.reset",
        "ctrl+u",
        "reset",
        "Clear",
        "ticket",
        priority=True,  # before the field's own ctrl+u (delete to the left)
        help="a clean ticket, from any field",
    ),
    KeySpec("ticket.leave", "escape", "leave", "Back", "ticket", help="back to the quotes"),
    # -- watchlist ----------------------------------------------------------------------
    KeySpec(
        "watchlist.ticket", "enter", "screen.to_ticket", "Ticket", "watchlist", help="ticket for it"
    ),
    # -- blotter ------------------------------------------------------------------------
    KeySpec("blotter.cancel", "c,delete", "screen.cancel_order", "Cancel", "blotter"),
    KeySpec(
        "blotter.modify", "m", "screen.modify_order", "Modify", "blotter", help="price or quantity"
    ),
    KeySpec("blotter.history", "h,enter", "screen.order_history", "History", "blotter"),
    KeySpec(
        "blotter.all", "a", "toggle_all", "All/Working", "blotter", help="today's orders / working"
    ),
    # -- positions ----------------------------------------------------------------------
    KeySpec(
        "positions.close",
        "x,enter",
        "screen.close_position",
        "Close",
        "positions",
        help="closing ticket",
    ),
    # -- signals ------------------------------------------------------------------------
    KeySpec(
        "signals.ticket", "enter,o", "screen.signal_ticket", "Ticket", "signals", help="ticket"
    ),
    # -- log ----------------------------------------------------------------------------
    KeySpec("log.fills", "f", "toggle_fills", "Fills only", "log", help="fills only / all"),
    KeySpec("log.follow", "end", "follow", "Follow", "log", help="jump to the newest"),
    # -- dialogs ------------------------------------------------------------------------
    KeySpec("modal.confirm", "y", "confirm", "Yes", "modal", help="confirm"),
    KeySpec("modal.cancel", "escape,n", "dismiss_no", "No", "modal", help="cancel"),
    KeySpec("view.close", "escape", "close", "Close", "view", help="back to the desk"),
    KeySpec(
        "modify.cancel",
        "escape",
        "dismiss_no",
        # Not "Cancel": over an order, the word reads as cancelling the order.
        "Close",
        "modify",
        help="close, the order as it is (enter sends the change)",
    ),
    # -- the quit dialog ----------------------------------------------------------------
    KeySpec(
        "quit.cancel",
        # Shift+c, never a key a pane uses for one order: `c` in the Orders pane cancels
        # the selected order, and `q` by mistake then `c` out of habit cancelled every
        # working order and quit with no second question.
        "C",
        "cancel_and_quit",
        "Cancel & quit",
        "quit",
        help="cancel them all and quit once they are done",
    ),
    KeySpec(
        "quit.leave",
        "l",
        "leave_and_quit",
        "Leave & quit",
        "quit",
        help="leave them working at the broker and quit",
    ),
    KeySpec("quit.stay", "escape,s", "stay", "Stay", "quit", help="back to the desk"),
)

BY_ID: dict[str, KeySpec] = {spec.id: spec for spec in SPECS}


def bindings(scope: str) -> list[BindingType]:
    return [spec.binding() for spec in SPECS if spec.scope == scope]


def binding(binding_id: str) -> Binding:
    return BY_ID[binding_id].binding()


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """Ids in a configured keymap that no binding has (shown as a warning)."""
    return sorted(set(keymap) - set(BY_ID))


# -- key names -----------------------------------------------------------------------------

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
"""The modifiers Textual writes before a key (`ctrl+shift+up`, `alt+ctrl+k`)."""

# Names people write for keys that Textual names otherwise (the key bar's short names).
_ALIASES = {
    "esc": "escape",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "pgdn": "pagedown",
    "page_up": "pageup",
    "page_down": "pagedown",
    "bs": "backspace",
    "spacebar": "space",
    "return": "enter",
}


@cache
def _key_names() -> frozenset[str]:
    """The key names Textual reports (longer than one character): its `Keys`, the
    keys of the kitty keyboard protocol, and the names of the printable ASCII
    characters (`question_mark`, `backslash`...)."""
    names = {key.value for key in Keys} - {Keys.Return.value}  # (never reported: enter)
    names |= set(FUNCTIONAL_KEYS.values())
    names |= {_character_to_key(chr(code)) for code in range(32, 127)}
    return frozenset(n for n in names if len(n) > 1 and not n.startswith("<") and "-" not in n)


def _character_name(name: str) -> bool:
    """Whether `name` is what Textual calls a character that is not a letter or digit
    (`euro_sign` for €: `_character_to_key`); `latin_small_letter_a` is not (Textual
    says `a`)."""
    char = key_to_character(REPLACED_KEYS.get(name, name))
    return char is not None and len(char) == 1 and _character_to_key(char) == name


def _is_key(key: str) -> bool:
    """Whether Textual can report `key` (one key, modifiers and all) for a key press."""
    if len(key) == 1:
        return key.isprintable() and not key.isspace()
    if key in _key_names():
        return True
    *mods, base = key.split("+")  # (`ctrl++` has an empty modifier: write ctrl+plus)
    if not all(m in MODIFIERS for m in mods) or len(set(mods)) < len(mods):
        return False
    if len(base) == 1:
        # With a modifier only a letter or digit is written as itself: Textual calls
        # ctrl+? `ctrl+question_mark` (a single character alone is named by set_keymap).
        return base.isalnum()
    return base in _key_names() or _character_name(base)


def _written_as(key: str) -> str:
    """The spelling of `key` that Textual reports, when one is near ("" if none)."""
    candidates = [key.replace("-", "+"), key.lower(), key.lower().replace("-", "+")]
    found = []
    for text in candidates:
        *mods, base = (
            [*text[:-2].split("+"), "+"]
            if text.endswith("++") and len(text) > 2
            else text.split("+")
        )
        base = _ALIASES.get(base.lower(), base)
        if len(base) == 1 and mods and not base.isalnum() and base.isprintable():
            base = _character_to_key(base)
        found.append("+".join([*mods, base]))
    return next((text for text in found if text != key and _is_key(text)), "")


def key_problem(keys: str) -> str:
    """Why Textual never reports a key of `keys` (a binding's comma-separated keys as
    `ui.keymap` writes them), or "" when it can report them all. A key is modifiers
    (ctrl, shift, alt, meta, super, hyper) and a key joined by `+`, the key one
    printable character or a Textual key name (`f5`, `escape`, `question_mark`). An
    empty string changes nothing (`App.set_keymap`): no problem."""
    if not keys.strip():
        return ""
    for key in (k.strip() for k in keys.split(",")):
        if not key:
            return f"{keys!r} has an empty key between its commas (keys are separated by ',')"
        if _is_key(key):
            continue
        hint = _written_as(key)
        if hint:
            return f"{key!r} is not a key (write {hint})"
        return (
            f"{key!r} is not a key: write modifiers ({', '.join(MODIFIERS)}) and a key "
            "joined by '+', the key one character or a key name (f5, escape, enter, "
            "space, pageup, question_mark...): ctrl+k, shift+f5"
        )
    return ""


@dataclass(frozen=True, slots=True)
class BadKey:
    """A `ui.keymap` override naming a key Textual never reports (`ctrl-k` for ctrl+k):
    applied, the binding answered no key at all (its default's too were gone)."""

    binding_id: str
    keys: str
    problem: str

    def __str__(self) -> str:
        return f"ui.keymap.{self.binding_id}: {self.problem}"


def bad_keys(keymap: Mapping[str, str]) -> list[BadKey]:
    """Every override of a known binding whose keys Textual can never report."""
    found = []
    for binding_id, keys in keymap.items():
        problem = key_problem(keys) if binding_id in BY_ID else ""
        if problem:
            found.append(BadKey(binding_id, keys, problem))
    return found


def unknown_id_problem(binding_id: str) -> str:
    """What the config says of a `ui.keymap` id no binding has."""
    close = difflib.get_close_matches(binding_id, list(BY_ID), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"ui.keymap.{binding_id}: no binding has this id{hint} (the help screen, "
        f"{display_keys(BY_ID['app.help'].keys)}, lists each with its id: app.kill_switch, "
        "ticket.fire...)"
    )


def keymap_problems(keymap: Mapping[str, str]) -> list[str]:
    """Everything that makes `keymap` unusable, as the config refuses it: ids no
    binding has, keys Textual never reports, then two bindings on one key that answer
    together (`clashes`, of the overrides that are keys)."""
    problems = [unknown_id_problem(binding_id) for binding_id in unknown_ids(keymap)]
    bad = bad_keys(keymap)
    problems += [str(b) for b in bad]
    dropped = {b.binding_id for b in bad}
    usable = {k: v for k, v in keymap.items() if k in BY_ID and k not in dropped}
    problems += [str(clash) for clash in clashes(usable)]
    return problems


def keys_for(binding_id: str, keymap: Mapping[str, str]) -> str:
    """The keys a binding answers to after the keymap, as the config would write them
    (an empty override changes nothing, as in `App.set_keymap`)."""
    return keymap.get(binding_id) or BY_ID[binding_id].keys


def display_keys(keys: str) -> str:
    names = {
        "question_mark": "?",
        "backslash": "\\",
        "escape": "esc",
        "delete": "del",
    }
    out = []
    for key in keys.split(","):
        parts = [names.get(p, p) for p in key.strip().split("+")]
        out.append("+".join(parts))
    return " / ".join(out)


# -- clashes -------------------------------------------------------------------------------

DESK_SCOPES = frozenset({"ticket", "watchlist", "blotter", "positions", "signals", "log"})
"""The panes' scopes: on the desk the focus is in one pane, and a key pressed there
reaches the pane's bindings, then the app's. A dialog's scope (`modal`, `view`,
`modify`, `quit`) answers alone, but for the app's keys bound with priority (the
kill switch, cancel all, ctrl+c), which Textual looks up from the app down, past any
dialog (`App._check_bindings`)."""


@dataclass(frozen=True, slots=True)
class Clash:
    """Two bindings that answer the same key at the same time: the one nearer the
    focus takes it, the other never runs there (`ticket.fire: f12` with
    `app.cancel_all: f12`: F12 in the ticket opened "Cancel all")."""

    key: str
    first: KeySpec
    second: KeySpec

    @property
    def where(self) -> str:
        """Where both answer: the scope that is not the app's, else anywhere."""
        scopes = [s.scope for s in (self.first, self.second) if s.scope != "app"]
        return SCOPES[scopes[0]] if scopes else SCOPES["app"]

    def __str__(self) -> str:
        return (
            f"ui.keymap: {display_keys(self.key)} is bound to both {self.first.id} and "
            f"{self.second.id}, which answer it at the same time ({self.where}): "
            "give one of them another key"
        )


def _live_together(a: KeySpec, b: KeySpec) -> bool:
    """Whether a key can reach both bindings at one moment (see `DESK_SCOPES`)."""
    if a.scope == b.scope:
        return True
    for one, other in ((a, b), (b, a)):
        if one.scope == "app" and (one.priority or other.scope in DESK_SCOPES):
            return True
    return False


def _keys(keys: str) -> set[str]:
    """The keys a binding's key string answers to, as Textual matches them: single
    characters by name (`?` is `question_mark`, as `App.set_keymap` writes them)."""
    return {key for key in _normalize_key_list(keys).split(",") if key}


def clashes(keymap: Mapping[str, str]) -> list[Clash]:
    """Every pair of bindings the keymap leaves on one key where both answer at once,
    in the table's order. The defaults have none (tests/ui/test_keymap.py)."""
    keys = {spec.id: _keys(keys_for(spec.id, keymap)) for spec in SPECS}
    found = []
    for n, a in enumerate(SPECS):
        for b in SPECS[n + 1 :]:
            shared = keys[a.id] & keys[b.id]
            if shared and _live_together(a, b):
                found.append(Clash(min(shared), a, b))
    return found


def without_clashes(keymap: Mapping[str, str]) -> tuple[dict[str, str], list[Clash | BadKey]]:
    """The keymap with every override that takes part in a clash left out (its
    binding keeps its default keys), and every clash that left one out. A binding back
    on its default keys may clash in turn with an override that took them (`pane.blotter:
    1` clashes with the Quotes' 1; back on 3, it clashes with `app.help: 3`): that one
    is left out too, and its clash listed. An override naming a key Textual never
    reports (`ctrl-k`) is left out too, and listed (`BadKey`), after the clashes:
    applied, its binding answered no key at all."""
    bad = bad_keys(keymap)
    applied = {k: v for k, v in keymap.items() if k not in {b.binding_id for b in bad}}
    found: list[Clash | BadKey] = []
    pending = clashes(applied)
    while pending:
        dropped = {s.id for c in pending for s in (c.first, c.second) if s.id in applied}
        if not dropped:  # two defaults: the table itself clashes (a test says it never)
            break
        found += pending
        for binding_id in dropped:
            del applied[binding_id]
        pending = clashes(applied)
    return applied, found + bad


# -- keys named in the desk's texts --------------------------------------------------------

_FUNCTION_KEY = re.compile(r"f\d{1,2}")


def key_text(binding_id: str, keymap: Mapping[str, str], *, every: bool = False) -> str:
    """The key a text names for a binding, after the keymap, as a trader reads it:
    its first key (`F9`, `esc`, `ctrl+r`, `a`), or with `every` all of them, the
    shortest first (`n/esc`). A text that names a key takes it from here, so that a
    remapped binding is never named by its old key."""
    keys = [k.strip() for k in keys_for(binding_id, keymap).split(",") if k.strip()]
    names = [display_keys(k) for k in keys]
    names = [n.upper() if _FUNCTION_KEY.fullmatch(n) else n for n in names]
    if not every:
        return names[0]
    return "/".join(sorted(names, key=len))


def named_key(node: MessagePump, binding_id: str, *, every: bool = False) -> str:
    """`key_text` of the key map in force in `node`'s app (what `App.set_keymap` was
    given: the bindings answer to exactly that)."""
    return key_text(binding_id, node.app._keymap, every=every)
