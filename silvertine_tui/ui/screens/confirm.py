"""A yes/no dialog for anything that sends money or stops trading."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Button, Static

from ...domain.ids import short_id
from ..format import age, shown
from ..keymap import BY_ID, bindings, named_key
from .dialog import Dialog

if TYPE_CHECKING:
    from ...engine.commands import DrivenElsewhere
    from ...engine.projection import DeskProjection

NAMED_MAX = 5
"""Orders named by id in `not_cancelled_here` (then `and N more`)."""


def not_cancelled_here(view: DeskProjection, lost: Sequence[DrivenElsewhere]) -> str:
    """What a cancel all (the kill switch's cancels, the quit dialog's cancel and quit)
    leaves working, said before the answer: the orders of the brokers another desk
    drives now, this desk having lost its claim on them (engine/claims.py): it sends
    those brokers nothing, so it cancels none of them (`DrivenElsewhere.why`, and what
    to do: `DrivenElsewhere.todo`). "" when no order of theirs is working. Before, the
    cancel all dialog said "2 working order(s) on every broker will be cancelled" and
    none was."""
    said = []
    for driven in lost:
        working = [o.client_order_id for o in view.working(driven.broker)]
        if not working:
            continue
        ids = ", ".join(short_id(coid) for coid in working[:NAMED_MAX])
        more = f" and {len(working) - NAMED_MAX} more" if len(working) > NAMED_MAX else ""
        said.append(
            f"{len(working)} working order(s) of broker {driven.broker} ({ids}{more}) will "
            f"NOT be cancelled by this desk: {driven.why()}; {driven.todo('cancel', 'them')}."
        )
    return " ".join(said)


def not_cancelled_count(view: DeskProjection, lost: Sequence[DrivenElsewhere]) -> int:
    """How many working orders `not_cancelled_here` names."""
    return sum(len(view.working(driven.broker)) for driven in lost)


def not_heard(view: DeskProjection, accounts: Iterable[tuple[str, str]], now_s: float) -> list[str]:
    """The broker accounts whose driving desk is not heard from (`DeskProjection.silent`:
    a watching desk's brokers whose heartbeats stopped, shown STALE in Health), each as
    "paper/main (STALE for 8s; 1 working order shown)"."""
    found: list[str] = []
    listed = list(accounts)
    for broker, heard_ns in sorted(view.silent.items()):
        quiet = max(0.0, now_s - heard_ns / 1e9)
        # Whole seconds, as the Health pane's STALE line says it.
        said = f"{int(quiet)}s" if quiet < 10 else age(quiet)
        of_broker: list[str | None] = [a for b, a in listed if b == broker]
        for account in of_broker or [None]:
            working = len(view.working(broker, account))
            name = broker if account is None else f"{broker}/{account}"
            found.append(
                f"{name} (STALE for {said}; {working} working "
                f"order{'' if working == 1 else 's'} shown)"
            )
    return found


def kill_not_heard(view: DeskProjection, accounts: Iterable[tuple[str, str]], now_s: float) -> str:
    """What a kill switch pulled now leaves to the desks not heard from (`not_heard`),
    said by the kill dialog before the answer and by the kill switch's toast after it;
    "" when every one is heard. Such a desk may be down: the KILL reaches it only when
    it runs again and reads it (it honours it as it starts), so until then its orders
    stay working at the venue."""
    which = not_heard(view, accounts, now_s)
    if not which:
        return ""
    if len(which) == 1:
        return (
            f"{which[0]} is not heard from: its desk may be down. Its orders are cancelled "
            "only when that desk comes back and reads the KILL (as it starts); until then "
            "they stay working at the venue."
        )
    return (
        f"{', '.join(which)} are not heard from: their desks may be down. Their orders "
        "are cancelled only when those desks come back and read the KILL (as they "
        "start); until then they stay working at the venue."
    )


class ConfirmScreen(Dialog[bool]):
    BINDINGS = bindings("modal")

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm_label: str = "Yes",
        danger: bool = False,
        moved: Callable[[], str | None] | None = None,
        note: Callable[[], str] | None = None,
    ) -> None:
        """`moved`: asked after each frame of the desk, what changed since the dialog
        asked (`trading is HALTED meanwhile`) or None. Once it says, the dialog says so
        and its answer is no: the question was about a desk that is no more.
        `note`: asked as the dialog opens and after each frame, what the answer would
        do differently now ("" when nothing: the kill switch with the bus down); it
        shows under the body, and the answer stands."""
        super().__init__()
        self.title_text = shown(title)  # an order's symbol, a venue's words: `shown`
        self.body = shown(body, lines=True)
        self.confirm_label = confirm_label
        self.danger = danger
        self.moved = moved
        self.note = note
        self.noted = note() if note is not None else ""
        self.stale = ""
        self._answered = False
        # The key bar names `y` as the button does: `y KILL`, not `y Yes`.
        self.key_words = {"confirm": confirm_label}

    def compose_dialog(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-danger" if self.danger else ""):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.body, id="dialog-body", markup=False)
            said = Static(shown(self.noted, lines=True), id="dialog-note", markup=False)
            said.display = bool(self.noted)
            yield said
            yield Static("", id="dialog-moved", markup=False)
            with Horizontal(id="dialog-buttons"):
                yes = named_key(self, "modal.confirm", every=True)
                no = named_key(self, "modal.cancel", every=True)
                yield Button(f"{self.confirm_label} ({yes})", id="yes", compact=True)
                # As the key bar names it: "Cancel" over orders read as cancelling them.
                yield Button(f"{BY_ID['modal.cancel'].description} ({no})", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def _answer(self, value: bool) -> None:
        if self._answered:  # a second key press never answers twice
            return
        self._answered = True
        self.dismiss(value)

    def follow_desk(self) -> None:
        self._follow_note()
        if self.moved is None or self.stale:
            return
        moved = self.moved()
        if moved is None:
            return
        self.stale = moved
        yes, no = named_key(self, "modal.confirm"), named_key(self, "modal.cancel")
        said = self.query_one("#dialog-moved", Static)
        said.update(f"{moved}: asked of the desk as it was, so {yes} changes nothing. {no}: close")
        said.display = True
        self.query_one("#yes", Button).disabled = True
        self.query_one("#no", Button).focus()
        self.refresh_bindings()  # the key bar shows `y` off, as the button

    def _follow_note(self) -> None:
        if self.note is None:
            return
        noted = self.note()
        if noted == self.noted:
            return
        try:
            said = self.query_one("#dialog-note", Static)
        except NoMatches:  # a desk frame before the dialog is composed: it says it then
            return
        self.noted = noted
        said.update(shown(noted, lines=True))
        said.display = bool(noted)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm" and self.stale:
            return None  # listed, dimmed: the question is about a desk that is no more
        return True

    def on_key(self, event: events.Key) -> None:
        """The confirm key of a dialog whose desk moved (its binding off, so the key
        reaches here): the bell, so the press is not taken for an answer."""
        found = self.active_bindings.get(event.key)
        if self.stale and found is not None and found.binding.action == "confirm":
            event.stop()
            self.app.bell()

    def action_confirm(self) -> None:
        self.follow_desk()  # the desk as it is now, not as at the last frame
        if self.stale:
            self.app.bell()
            return
        self._answer(True)

    def action_dismiss_no(self) -> None:
        self._answer(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self._answer(False)
