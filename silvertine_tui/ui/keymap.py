"""Every key binding of the UI, by id, in one table.

Widgets and screens take their `BINDINGS` from here (`bindings(scope)`), the help
screen lists this table, and `ui.keymap` in the config remaps any id
(`{"app.kill_switch": "ctrl+k"}`), applied with `App.set_keymap`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.keys import _normalize_key_list

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


def without_clashes(keymap: Mapping[str, str]) -> tuple[dict[str, str], list[Clash]]:
    """The keymap with every override that takes part in a clash left out (its
    binding keeps its default keys), and every clash that left one out. A binding back
    on its default keys may clash in turn with an override that took them (`pane.blotter:
    1` clashes with the Quotes' 1; back on 3, it clashes with `app.help: 3`): that one
    is left out too, and its clash listed."""
    applied = dict(keymap)
    found: list[Clash] = []
    pending = clashes(applied)
    while pending:
        dropped = {s.id for c in pending for s in (c.first, c.second) if s.id in applied}
        if not dropped:  # two defaults: the table itself clashes (a test says it never)
            break
        found += pending
        for binding_id in dropped:
            del applied[binding_id]
        pending = clashes(applied)
    return applied, found


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
