"""Every key binding of the UI, by id, in one table.

Widgets and screens take their `BINDINGS` from here (`bindings(scope)`), the help
screen lists this table, and `ui.keymap` in the config remaps any id
(`{"app.kill_switch": "ctrl+k"}`), applied with `App.set_keymap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType

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
    KeySpec("ticket.flip", "ctrl+s", "flip_side", "Buy/Sell", "ticket", help="flip the side"),
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
        "Cancel",
        "modify",
        help="leave the order as it is (enter sends the change)",
    ),
    # -- the quit dialog ----------------------------------------------------------------
    KeySpec(
        "quit.cancel",
        "c",
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
    """The keys a binding answers to after the keymap, as the config would write them."""
    return keymap.get(binding_id, BY_ID[binding_id].keys)


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
