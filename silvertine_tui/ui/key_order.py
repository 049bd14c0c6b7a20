"""Keys handled one at a time, each where the key before it left the focus."""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any

from textual import events
from textual.app import App, ScreenStackError
from textual.dom import DOMNode, NoScreen
from textual.timer import Timer

from .draw_now import draw_now

SETTLE_LIMIT_S = 0.5
"""The longest a key waits for the one before it (a key whose widget went away
mid-journey never reports back: the next one goes after this)."""


class KeyOrder:
    """Textual hands a key to the focused widget's queue and moves on to the next key
    at once; the key's action (an app binding it bubbles back to) runs later. With
    several keys waiting (a quick typist, one SSH packet), every one went to the
    widget focused before the first acted: `b` then `10` typed into the quotes, not
    the ticket `b` opened, and the keys were lost.

    Here a key goes to the widget only once the key before it has been through every
    queue on its way up (a callback follows it, queue by queue, to the app); keys
    arriving meanwhile wait, in order."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.waiting: deque[events.Key] = deque()
        self._journey: object | None = None
        self._released: events.Key | None = None
        self._limit: Timer | None = None

    def hold(self, event: events.Key) -> bool:
        """Whether `event` must wait (it is kept, and posted again in its turn)."""
        if event is self._released:
            self._released = None
            return False
        if self._journey is None and not self.waiting and self._released is None:
            return False
        self.waiting.append(event)
        return True

    def sent(self, target: DOMNode) -> None:
        """`target` has just been handed a key: follow it to the app."""
        journey = self._journey = object()
        chain = list(target.ancestors_with_self)
        if not chain or chain[-1] is not self.app:
            chain.append(self.app)
        if self._limit is not None:
            self._limit.stop()
        self._limit = self.app.set_timer(SETTLE_LIMIT_S, lambda: self._settled(journey))
        self._hop(chain, 0, journey)

    def _hop(self, chain: list[DOMNode], at: int, journey: object) -> None:
        while at < len(chain):
            # Behind the key in this queue; if the queue is closed, on to the next.
            if chain[at].call_later(self._hop, chain, at + 1, journey):
                return
            at += 1
        self._settled(journey)

    def _draw_now(self) -> None:
        """What the key changed goes out now (`draw_now`), or where that must wait
        for a layout, at the screen's next update: not after the messages that would
        have told the screen (the changed widget's idle, an Update, the screen's
        idle), each behind whatever else the loop had ready."""
        with contextlib.suppress(NoScreen, ScreenStackError):
            screen = self.app.screen
            if not draw_now(screen):
                screen._update_timer.resume()

    def _settled(self, journey: object) -> None:
        if journey is not self._journey:
            return
        self._journey = None
        self._draw_now()
        if self._limit is not None:
            self._limit.stop()
            self._limit = None
        if self.waiting:
            self._released = self.waiting.popleft()
            self.app.post_message(self._released)
