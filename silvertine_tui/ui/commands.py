"""Command palette (ctrl+p): trading actions, themes, brokers, panes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keymap import PANES

if TYPE_CHECKING:
    from ..engine.projection import DeskProjection, OrderView
    from .app import SilvertineApp


class DeskCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: SilvertineApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], object], str]] = [
            ("buy", partial(app.run_action, "buy"), "ticket: buy the selected quote at the ask"),
            ("sell", partial(app.run_action, "sell"), "ticket: sell the selected quote at the bid"),
            ("cancel all", app.action_cancel_all, "cancel every working order (confirmed)"),
            ("kill switch", app.action_kill, "cancel everything and HALT trading (confirmed)"),
            ("resume trading", app.action_resume, "leave HALTED (confirmed)"),
            ("reduce only", app.action_reduce_only, "trading state REDUCE_ONLY"),
            ("help", app.action_help, "every key"),
            ("next theme", app.action_next_theme, "switch to the next theme"),
        ]
        for name in app.theme_names():
            commands.append((f"theme {name}", partial(app.switch_theme, name), "switch theme"))
        for account in app.desk.accounts if app.has_session else ():
            commands.append(
                (f"broker {account}", partial(app.choose_account, account), "ticket account")
            )
        for name, label in PANES:
            commands.append(
                (f"focus {label.lower()}", partial(app.action_show_pane, name), f"go to {name}")
            )
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        commands = [
            (score, matcher.highlight(name), callback, help_text)
            for name, callback, help_text in self._commands()
            if (score := matcher.match(name)) > 0
        ]
        # An order id typed or pasted (the last word): its history, also for an order
        # that left memory (read back from the journal).
        words = query.split()
        if words:
            for hit in self._order_hits(id_end(words[-1]), quiet=bool(commands)):
                yield hit
        for score, name, callback, help_text in commands:
            yield Hit(score, name, callback, help=help_text)

    def _order_hits(self, end: str, *, quiet: bool) -> list[Hit]:
        """The orders whose id ends in `end`, as the desk shows ids: the Orders pane's
        Id (`tdnfmtnx`), `sent tdnfmtnx:` beside Send, the Log's `(…mtnx)`, or the whole
        id. Several: each listed, saying how many share that end. None, for a word that
        reads as an id's end and matches no command (`quiet` when one does): said, with
        where the ids are shown. An order that left memory is found too (its history is
        read back from the journal); only a whole id was, which the desk never shows."""
        app: SilvertineApp = self.app  # type: ignore[assignment]
        if not end or not app.has_session:
            return []
        view = app.desk.view
        found = view.orders_ending(end)
        if len(end) < ID_END_MIN:  # a whole id only (a venue's own may be this short)
            found = [end] if found == [end] else []
            quiet = True
        shown = found[:ORDERS_LISTED]
        hits = []
        for n, coid in enumerate(shown):
            what = order_summary(view.order(coid), view)
            if len(found) > 1:
                what = f"{n + 1} of {len(found)} orders whose id ends in {end}: {what}"
            hits.append(
                Hit(
                    1.0 - n / 1000,  # newest first, above the commands
                    f"order history {coid}",
                    partial(app.open_order_history, coid),
                    help=f"{what}; every event of this order",
                )
            )
        if len(found) > len(shown):
            more = (
                f"{len(found) - len(shown)} more orders' ids end in {end}: "
                "type more of the id (Orders, Id column, shows 8 characters)"
            )
            hits.append(Hit(0.9, more, partial(app.notify, more, title="Order history")))
        if not found and not quiet:
            # Said in place of Textual's "No matches found", without the word typed (a
            # theme's name looked for is no order's id either).
            hint = (
                "an order's id ends as the Orders pane's Id column, `sent ...:` beside "
                "Send and the Log's (…abcd) show it; type or paste that end, or the "
                "whole id"
            )
            told = f"no order's id ends in {end}: {hint}"
            hits.append(
                Hit(
                    0.5,
                    NOTHING_MATCHES,
                    partial(app.notify, told, title="Order history", severity="warning"),
                    help=hint,
                )
            )
        return hits


NOTHING_MATCHES = "nothing matches: no command, and no order's id ends in what is typed"
ID_END_MIN = 4
"""The fewest characters of an id's end looked for: the Log shows four (`(…mtnx)`)."""
ORDERS_LISTED = 20
"""Orders listed for one id's end; more are counted, to be told apart by more of it."""


def id_end(word: str) -> str:
    """An id's end as the desk shows it, pasted with what surrounds it: the Log's
    `(…mtnx)`, the ticket's `sent tdnfmtnx:`, a toast's `(order tdnfmtnx)`."""
    return word.strip("()…:,;'\"`")


def order_summary(view: OrderView | None, desk: DeskProjection) -> str:
    """`BUY 0.5 ETHUSDT.PAPER LIMIT FILLED`; an order that left memory is said so."""
    from .orders import amount_text  # (the engine's rules: loaded with the session)

    if view is None:
        return "left memory: read back from the journal"
    order = view.order
    request = order.request
    amount = amount_text(request, desk.instrument(view.broker, request.instrument))
    return f"{request.side} {amount} {request.instrument} {request.order_type} {order.status}"
