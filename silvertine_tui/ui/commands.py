"""Command palette (ctrl+p): trading actions, themes, brokers, panes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keymap import PANES

if TYPE_CHECKING:
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
        app: SilvertineApp = self.app  # type: ignore[assignment]
        # An order id typed or pasted (the last word): its history, also for an order
        # that left memory (read back from the journal).
        words = query.split()
        if words and app.knows_order(words[-1]):
            coid = words[-1]
            yield Hit(
                1.0,
                f"order history {coid}",
                partial(app.open_order_history, coid),
                help="every event of this order, from the journal if it left memory",
            )
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
