"""Quitting with working orders: cancel them and quit, leave them working and quit,
or stay.

"Leave & quit" leaves them working at the venues, also with `engine.cancel_on_exit: true`
(an explicit choice beats the config's default: `QuitChoice.LEAVE`).

"Cancel and quit" (`C`, shift+c: never `c`, which cancels one order in the Orders
pane, so `q` pressed by mistake then `c` out of habit does nothing) sends one
cancel-all through the command gateway and waits, showing how many are left, until the
OMS sees every order done; then the app quits. If a broker refuses or an order is
still working after `timeout_s`, the dialog says which and the app stays.

The journal's events the bus holds in memory, not written to Redis yet (Redis out of
reach: the bus's outage buffer, `EventBus.unwritten`, the same count the close gives
when it can write none of them; health and snapshots are not counted), are said
first, how many and how many are fills, with what quitting does to them: the bus
waits 2 s for Redis as it closes, then what is left is lost from the journal (logged
whole in the log file; the CLI exits 7). The count follows the bus while the dialog is
open (`follow_desk`, after each frame of the desk), and the dialog says when Redis has
taken them all. The app asks with no order working too while any wait (it quit at
once, and only a line on stderr after the exit said they were lost); then quitting
or staying is all there is to choose.

The working orders it counts are those this desk knows working
(`DeskProjection.working_known`): the journal's, but an order a report waiting in
memory ends (the venue filled or cancelled it while Redis was down), and with the
orders the journal does not show yet that their waiting events say were sent or
work at the venue (sent while Redis was down: the Orders pane cannot list them yet).
The dialog says how many of each; "Cancel & quit" cancels those too (the cancel goes
to the venue, which needs no Redis) and waits for the journal to show them ended, as
it waits for the others. Before, an order sent during an outage and resting at the
venue was not counted: the dialog offered only "Quit". What it counted so holds until
the desk has read those events back: once Redis takes them nothing waits, and the
desk's reader reads them a moment later (up to 2 s after an outage); the title read
"Quit with 1 working order(s)?" over three meanwhile.

The orders of a broker another desk drives now (this desk lost its claim on it:
engine/claims.py) are not cancelled by "Cancel & quit": this desk sends that broker
nothing. The dialog says so before the answer, naming them, why and what to do
(`not_cancelled`, followed while it is open); before, `C` gave no warning and only its
failure said it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from enum import StrEnum

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from ...engine.commands import CancelAll, CancelAllDone, Command, Failed, Outcome
from ...engine.projection import DeskProjection, OrderView, OrderWaits
from ...events.summary import short_ref
from ..cancels_sent import CancelsSent
from ..format import shown
from ..keymap import BY_ID, bindings, display_keys, keys_for
from .dialog import QUIT_DIALOG_ID, Dialog


def _order_id(order: OrderView | str) -> str:
    return order if isinstance(order, str) else order.client_order_id


class QuitChoice(StrEnum):
    QUIT = "quit"
    """Quit (nothing left working, or every order cancelled)."""
    LEAVE = "leave"
    """Quit and leave the working orders at the venues, whatever `engine.cancel_on_exit`
    says: the trader chose it here (the app tells the session, `Session.close`)."""
    STAY = "stay"


QUIT_KEYS = ("quit.cancel", "quit.leave", "quit.stay")
BUTTONS = ("cancel-quit", "leave-quit", "stay")


class QuitScreen(Dialog[QuitChoice]):
    BINDINGS = bindings("quit")

    def __init__(
        self,
        projection: DeskProjection,
        send: Callable[[Command], Awaitable[Outcome]],
        *,
        timeout_s: float = 5.0,
        keymap: Mapping[str, str] | None = None,
        unwritten: Callable[[], tuple[int, int]] | None = None,
        bus_down: Callable[[], str] | None = None,
        cancels_sent: CancelsSent | None = None,
        ends_here: Collection[str] = (),
        not_cancelled: Callable[[], str] | None = None,
    ) -> None:
        """`projection` is read for the working orders; `send` carries the cancel-all
        (`Desk.send`); `keymap` (`ui.keymap`) names the keys the dialog says;
        `unwritten`: how many of the journal's events the bus holds in memory, not
        written to Redis yet, and how many of them are fills (`EventBus.unwritten`;
        none: nothing waits); `bus_down`: why this desk has lost the bus ("" while it
        has it): the cancels' outcome is then unknown, not failed; `cancels_sent`: the
        orders marked `cxl…` (`Desk.cancels_sent`); `ends_here`: the brokers whose
        account lives in this process (a simulator on the memory bus): their orders
        end with the desk, none is left working anywhere; `not_cancelled`: the working
        orders "Cancel & quit" leaves working, in words ("" when none): those of the
        brokers another desk drives now (ui/screens/confirm.py `not_cancelled_here`)."""
        super().__init__(id=QUIT_DIALOG_ID)
        self.keymap = dict(keymap or {})
        self.projection = projection
        self.send = send
        self.timeout_s = timeout_s
        self.busy = False
        self.outcome = ""
        self._unwritten = unwritten
        self.unwritten_said = 0  # the count the dialog says now (0: none said)
        self._unwritten_seen = False  # it said some while open: it says when they are written
        self._bus_down = bus_down
        self.cancels_sent = cancels_sent
        self.ends_here = frozenset(ends_here)
        self.unknown = False  # the cancels went out, the bus is down: their outcome unknown
        self.unknown_ids: frozenset[str] = frozenset()
        """While `unknown`: the orders whose cancel went out and whose outcome the
        journal cannot show (the title counts them)."""
        self.titled = ""  # the title said while it follows the count (`follow_desk`)
        self._not_cancelled = not_cancelled
        self.not_cancelled_said = ""  # what `#dialog-note` says now (`_say_not_cancelled`)
        self._counted_unread: dict[str, OrderWaits] = {}
        """Orders counted from the events waiting for Redis that the journal, as this
        desk has read it, does not show yet (`_working_ids`)."""
        self._ended_unread: set[str] = set()
        """Orders the journal shows working that a report waiting for Redis ended, until
        the journal, as this desk has read it, shows them ended (`_working_ids`)."""

    def _working(self) -> int:
        """The orders working as far as this desk knows (`_working_ids`)."""
        return len(self._working_ids())

    def _working_ids(self) -> list[str]:
        """The orders working as far as this desk knows (`working_known`): the
        journal's, less those a report waiting for Redis ends, with those sent or
        working that the journal does not show yet; and what the dialog counted so
        from the events that waited, until the desk has read them back. Once Redis
        takes them, they wait in memory no more, and the desk reads them back from the
        journal only a moment later (its reader's next read: up to 2 s after an
        outage). Meanwhile `working_known` lost the orders sent during the outage and
        counted again those that ended in it: the title read "Quit with 1 working
        order(s)?" over three for that moment (tests/ui/test_quit_unwritten.py)."""
        projection = self.projection
        waiting = projection.waiting()
        known = projection.working_known()
        for waits in waiting.not_shown:
            self._counted_unread[waits.client_order_id] = waits
        self._ended_unread.update(waiting.ended)
        for coid in list(self._counted_unread):
            said = waiting.orders.get(coid)
            if self._shown(coid) or (said is not None and said.ended):
                del self._counted_unread[coid]  # the journal (or a waiting report) says
        if self._ended_unread:
            journal = {v.client_order_id for v in projection.working()}
            self._ended_unread &= journal  # those the journal shows ended go
        counted = [coid for coid in known if coid not in self._ended_unread]
        counted += [coid for coid in self._counted_unread if coid not in counted]
        return counted

    def _shown(self, coid: str) -> bool:
        """Whether the journal, as this desk has read it, shows the order."""
        return self.projection.order(coid) is not None or self.projection.retired(coid) is not None

    def _waiting_note(self) -> str:
        """What the events waiting for Redis say of the working orders counted: those
        not in Orders yet, and those Orders shows working that ended at the venue."""
        waiting = self.projection.waiting()
        notes = []
        if unlisted := sum(1 for w in waiting.not_shown if w.in_memory):
            notes.append(
                f"{unlisted} of them not in Orders yet: sent while Redis was out of reach, "
                "their events wait in memory."
            )
        if reading := sum(1 for w in waiting.not_shown if not w.in_memory):
            # Redis has them; this desk reads them back at its reader's next read.
            notes.append(
                f"{reading} of them not in Orders yet: sent while Redis was out of reach, "
                "written to Redis, being read back."
            )
        in_memory = [w.in_memory for c in waiting.ended if (w := waiting.orders.get(c))]
        if ended := sum(in_memory):
            notes.append(
                f"{ended} order(s) Orders shows working ended at the venue (filled or "
                "cancelled): their events wait in memory; not counted."
            )
        if ended := len(in_memory) - sum(in_memory):
            notes.append(
                f"{ended} order(s) Orders shows working ended at the venue (filled or "
                "cancelled): written to Redis, being read back; not counted."
            )
        return "".join(f"\n{note}" for note in notes)

    def unwritten(self) -> tuple[int, int]:
        """The journal's events the bus holds in memory, not yet written to Redis, and
        how many of them are fills."""
        return self._unwritten() if self._unwritten is not None else (0, 0)

    def compose_dialog(self) -> ComposeResult:
        n = self._working()
        # Nothing working: the dialog is asked only for the events not journaled (the
        # app's `action_quit`), and quitting is all there is to choose.
        keys = QUIT_KEYS if n else QUIT_KEYS[1:]
        if not n or self._all_end_here():
            # The bar says what the button says: nothing is left working anywhere.
            self.key_words = {"leave_and_quit": "Quit"}
        title = self._title(n)
        # The title followed while the dialog is open, when it opened over working
        # orders (`follow_desk`): the keys and buttons are of the dialog as it opened.
        self.titled = title if n else ""
        with Vertical(id="dialog", classes="-danger"):
            yield Static(title, id="dialog-title", markup=False)
            yield Static(id="quit-journal", markup=False)
            yield Static(
                "\n".join(f"{self._said_key(i)}: {self._help(i, n)}." for i in keys)
                + self._waiting_note()
                + self._ends_note(),
                id="dialog-body",
                markup=False,
            )
            # Styled as a confirm dialog's note: what the answer would do differently now.
            elsewhere = Static(id="dialog-note", markup=False)
            elsewhere.display = False
            yield elsewhere
            with Horizontal(id="dialog-buttons"):
                for key_id, button_id in zip(QUIT_KEYS, BUTTONS, strict=True):
                    if key_id not in keys:
                        continue
                    what = BY_ID[key_id].description
                    if key_id == "quit.leave" and (not n or self._all_end_here()):
                        what = "Quit"
                    yield Button(f"{what} ({self._key(key_id)})", id=button_id, compact=True)

    @staticmethod
    def _title(working: int) -> str:
        if working:
            return f"Quit with {working} working order(s)?"
        return "Quit with events not journaled?"

    def _title_now(self) -> str:
        """The title as things stand: the working orders' count, and while the
        cancels' outcome is unknown (the bus down) the orders whose cancel's outcome
        is unknown. The venue's CANCELED of each waits in memory, so none is counted
        working, and the title read "Quit with 0 working order(s)?" over the rows
        marked `cxl…` that the body called unknown."""
        working = self._working_ids()
        if not (self.unknown and self.unknown_ids):
            return f"Quit with {len(working)} working order(s)?"
        unknown = len(self.unknown_ids)
        others = len([coid for coid in working if coid not in self.unknown_ids])
        if others:
            return (
                f"Quit with {others} working order(s) and {unknown} whose cancel's "
                "outcome is unknown?"
            )
        return f"Quit with {unknown} order(s) whose cancel's outcome is unknown?"

    def _help(self, key_id: str, working: int) -> str:
        if key_id == "quit.leave" and not working:
            return "quit now"
        if key_id == "quit.leave" and self._all_end_here():
            return "quit: the orders end with the desk"
        return BY_ID[key_id].help

    def _working_accounts(self) -> list[tuple[str, str]]:
        """(broker, account) of each working order: the journal's, and those it does
        not show yet (their events wait for Redis)."""
        found = [(v.broker, v.account) for v in self.projection.working()]
        found += [(w.broker, w.account) for w in self.projection.waiting().not_shown]
        return found

    def _all_end_here(self) -> bool:
        return bool(self.ends_here) and all(
            broker in self.ends_here for broker, _ in self._working_accounts()
        )

    def _ends_note(self) -> str:
        """Said of the orders of a simulator whose account lives in this process: no
        venue keeps them once the desk is gone (a "leave them working at the broker"
        promised what the memory bus's paper account cannot keep)."""
        ended = [
            f"{broker}/{account}"
            for broker, account in self._working_accounts()
            if broker in self.ends_here
        ]
        if not ended:
            return ""
        accounts = ", ".join(sorted(set(ended)))
        return (
            f"\n{len(ended)} order(s) on {accounts} end with the desk: its simulated "
            "account lives in this process (memory bus), nothing keeps them after quit."
        )

    def _key(self, key_id: str) -> str:
        """The first key the binding answers to after the keymap, as the help shows it."""
        return display_keys(keys_for(key_id, self.keymap).split(",")[0])

    def _said_key(self, key_id: str) -> str:
        """The key as the dialog's text names it: a capital letter with how it is typed
        (`C (shift+c)`), so that it is never read as the `c` that cancels one order in
        the Orders pane, and does nothing here."""
        key = self._key(key_id)
        if len(key) == 1 and key.isalpha() and key.isupper():
            return f"{key} (shift+{key.lower()})"
        return key

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()
        self._say_unwritten()
        self._say_not_cancelled()

    def _say_not_cancelled(self) -> None:
        """What "Cancel & quit" leaves working, said under the choices while it would
        (`not_cancelled`): the orders of the brokers another desk drives now."""
        if self._not_cancelled is None or not self.query("#cancel-quit"):
            return
        said = self._not_cancelled()
        if said == self.not_cancelled_said:
            return
        self.not_cancelled_said = said
        line = self.query_one("#dialog-note", Static)
        line.update(shown(f"{self._said_key('quit.cancel')}: {said}" if said else ""))
        line.display = bool(said)

    def follow_desk(self) -> None:
        """After each frame of the desk: the events waiting for Redis, as they come and
        go while the dialog is open, and the working orders' count in the title (an
        order a strategy sent, or one that filled, while the dialog is open: the title
        said the count as it opened, and "Cancel & quit" cancelled more, or fewer)."""
        self._say_unwritten()
        if not self.busy:
            self._say_not_cancelled()
        if self.titled and not self.busy:
            # (None left: "0 working", not the question of a dialog opened over none.)
            self._retitle()

    def _retitle(self) -> None:
        title = self._title_now()
        if title != self.titled:
            self.titled = title
            self.query_one("#dialog-title", Static).update(title)

    def _say_unwritten(self) -> None:
        """What the bus holds unwritten, and what quitting now does to it; once Redis
        has taken what was said, that it has."""
        waiting, fills = self.unwritten()
        if waiting == self.unwritten_said and (waiting or not self._unwritten_seen):
            return
        line = self.query_one("#quit-journal", Static)
        self.unwritten_said = waiting
        if waiting:
            self._unwritten_seen = True
            stay = self._said_key("quit.stay")
            line.update(
                f"NOT JOURNALED: {waiting:,} event(s) ({fills:,} fill(s)) wait in memory, not "
                "written to Redis yet. Quit now and what Redis has not taken within 2 s is "
                f"lost from the journal (only the log file keeps it). Stay ({stay}) until "
                "Health (6) shows the bus connected and none waiting."
            )
            line.set_class(True, "-unwritten")
            line.set_class(False, "-written")
        else:
            line.update("Journal written: no event waits for Redis now.")
            line.set_class(False, "-unwritten")
            line.set_class(True, "-written")
        line.display = True

    def _say(self, text: str) -> None:
        self.outcome = text
        self.query_one("#dialog-body", Static).update(shown(text, lines=True))

    def action_stay(self) -> None:
        if not self.busy:
            self.dismiss(QuitChoice.STAY)

    def action_leave_and_quit(self) -> None:
        if not self.busy:
            self.dismiss(QuitChoice.LEAVE)

    def action_cancel_and_quit(self) -> None:
        if self.busy or not self.query("#cancel-quit"):
            return  # (nothing working: no cancel to offer)
        self.busy = True
        for button in self.query(Button):
            button.disabled = True
        self._say(f"Cancelling {self._working()} working order(s)...")
        self.run_worker(self._cancel_all(), group="quit", exit_on_error=False)

    def _left(self, asked: Collection[str]) -> list[OrderView | str]:
        """Of `asked`, those the journal does not show ended: working there, or not
        shown there yet (sent while Redis was down; by id)."""
        projection = self.projection
        left: list[OrderView | str] = [
            v for v in projection.working() if v.client_order_id in asked
        ]
        for coid in asked:
            if projection.order(coid) is None and projection.retired(coid) is None:
                left.append(coid)
        return left

    def _waits(self, coid: str) -> OrderWaits | None:
        """What waited of an order the journal does not show: waiting now, or counted
        while it waited and not read back yet."""
        waits = self.projection.waiting().orders.get(coid)
        return waits if waits is not None else self._counted_unread.get(coid)

    def _named(self, order: OrderView | str) -> str:
        if isinstance(order, str):
            waits = self._waits(order)
            instrument = waits.instrument if waits is not None else ""
            return f"{instrument} {short_ref(order)}".strip()
        return f"{order.order.request.instrument} {short_ref(order.client_order_id)}"

    def _account(self, order: OrderView | str) -> str:
        if isinstance(order, str):
            waits = self._waits(order)
            return f"{waits.broker}/{waits.account}" if waits is not None else "?"
        return f"{order.broker}/{order.account}"

    async def _cancel_all(self) -> None:
        # The journal's working orders (those a waiting report ends too: the journal
        # shows them ended only once Redis has them), and those it does not show yet
        # (their events waiting, or taken by Redis and not read back yet).
        self._working_ids()  # (what waits, noted)
        asked = {v.client_order_id for v in self.projection.working()}
        asked.update(w.client_order_id for w in self.projection.waiting().not_shown)
        asked.update(self._counted_unread)
        outcome = await self.send(CancelAll())
        if not isinstance(outcome, CancelAllDone):
            error = outcome.error if isinstance(outcome, Failed) else str(outcome)
            self._failed(f"Cancel all failed: {error}")
            return
        report = outcome.report
        if not report.ok:
            self._failed(f"Not quitting: {report.summary()}")
            return
        requested = {*report.cancelled, *report.gone}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            if not self.is_attached:
                return  # the trader quit or stayed meanwhile (an outcome unknown)
            left = self._left(asked)
            refused = [v for v in left if _order_id(v) not in requested]
            if not left:
                self._say("Every order is cancelled. Quitting.")
                self.dismiss(QuitChoice.QUIT)
                return
            down = self._bus_down() if self._bus_down is not None else ""
            if down and not refused:
                # Sent, and the journal cannot show the answer: not a failure, unknown.
                self._outcome_unknown(left, down)
                await asyncio.sleep(0.02)
                continue
            if self.unknown:  # the bus is back: its answers get their time
                self._known_again()
                deadline = loop.time() + self.timeout_s
            if (refused and len(refused) == len(left)) or loop.time() >= deadline:
                names = ", ".join(self._named(v) for v in left[:5])
                more = f" and {len(left) - 5} more" if len(left) > 5 else ""
                brokers = ", ".join(sorted({self._account(v) for v in left}))
                self._failed(
                    f"{len(left)} order(s) still working after cancel all on {brokers}: "
                    f"{names}{more}. Not quitting: check the broker in Health (6) and the "
                    "Orders pane (3)."
                )
                return
            self._say(f"Cancelling: {len(left)} of {len(asked)} still working...")
            await asyncio.sleep(0.02)

    def _outcome_unknown(self, left: Sequence[OrderView | str], down: str) -> None:
        """The cancels went out and the bus is down: the journal cannot show the
        broker's answer, so whether they are cancelled is unknown (they read NEW
        `cxl…` in Orders). Said once, with what the trader can do: wait here for the
        bus (this quits once it shows them done), quit leaving them as sent, or go
        back to the desk."""
        self.unknown_ids = frozenset(_order_id(v) for v in left)
        if self.unknown:
            return
        self.unknown = True
        self.busy = False  # the trader may answer now
        if self.titled:
            self._retitle()
        marked = len(self.cancels_sent) if self.cancels_sent is not None else 0
        said_marked = f"; {marked} marked cxl\u2026 in Orders" if marked else ""
        leave, stay = self._said_key("quit.leave"), self._said_key("quit.stay")
        self._say(
            f"Cancel sent for {len(left)} order(s), outcome unknown: the bus is down "
            f"({down}), so the journal cannot show the broker's answer{said_marked}. "
            "Waiting for the bus: this quits once it shows them cancelled.\n"
            f"{leave}: quit now, leaving them as sent (the broker may have cancelled "
            f"them; check it once the bus is back).\n{stay}: back to the desk."
        )
        for button in self.query(Button):
            button.disabled = button.id == "cancel-quit"
        leave_button = self.query_one("#leave-quit", Button)
        leave_button.label = f"Quit, cancels sent ({self._key('quit.leave')})"
        # Laid out again at its new label's width: a button's label is not a layout
        # change to Textual, and it kept the width of "Leave & quit (l)", cut to
        # "Quit, cancels".
        leave_button.refresh(layout=True)

    def _known_again(self) -> None:
        """The bus is back while waiting: the answers are read, nothing to choose."""
        self.unknown = False
        self.busy = True
        for button in self.query(Button):
            button.disabled = True

    def _failed(self, message: str) -> None:
        self.outcome = message
        self.app.notify(message, title="Cancel before quit failed", severity="error")
        self.dismiss(QuitChoice.STAY)

    @on(Button.Pressed, "#cancel-quit")
    def _cancel_pressed(self) -> None:
        self.action_cancel_and_quit()

    @on(Button.Pressed, "#leave-quit")
    def _leave_pressed(self) -> None:
        self.action_leave_and_quit()

    @on(Button.Pressed, "#stay")
    def _stay_pressed(self) -> None:
        self.action_stay()
