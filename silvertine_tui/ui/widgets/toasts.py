"""The desk's toasts: each cut to its box with a pointer to the Log pane, where what it
says is whole, and only the newest that fit shown.

At 80x24 a toast has one line (on the pane bar, never over the header) and an error's
"what to do next" was never in sight; in the grid a claims toast of fifteen rows pushed
the newest toast off the screen, over the key bar. Textual's toasts are shown through
`ToastRack.show`, called from `App._refresh_notifications`: the app overrides that to
call `show_toasts` (textual is pinned: check both on an upgrade).

Under a dialog a toast is whole or not shown (`fit_over_dialog`): it starts over the
header after what the header says of the desk's state and takes the rows above the
dialog's box, never the box. It had two rows there whatever it said: at 120x36 the
kill switch's dialog showed a claims toast cut to `… more in Log (7)`, and the Log is
out of reach while a dialog asks. One that does not fit shows its title alone and
where it is said (`Claims not renewed: whole in Log (7); on the desk once this dialog
closes`): it shows on the desk once the dialog is answered, if its time is not up (it
runs, as an older toast's does)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

from rich.cells import cell_len
from textual.content import Content
from textual.css.query import NoMatches
from textual.css.scalar import Unit
from textual.dom import NoScreen
from textual.notifications import Notification
from textual.widgets._toast import Toast, ToastHolder, ToastRack

from ..format import toast_title
from ..keymap import named_key
from .header import DeskHeader

if TYPE_CHECKING:
    from textual.app import App
    from textual.css.styles import RulesMap
    from textual.notifications import Notifications
    from textual.strip import Strip
    from textual.style import Style
    from textual.visual import RenderOptions


class CappedToast(Content):
    """A toast's text, cut at `lines` lines of whatever width it is drawn at, its last
    line then ending with `pointer` (`… more in Log (7)`): at 80x24 a toast has two
    lines, and an error's "what to do next" was never in sight; in the grid a claims
    toast of fifteen lines pushed the newest toast off the screen."""

    def __init__(self, content: Content, lines: int, pointer: str) -> None:
        super().__init__(content.plain, list(content.spans), content.cell_length)
        self.content = content
        self.lines = max(lines, 1)
        self.pointer = pointer
        self._cut: tuple[int, Content] | None = None

    def cut(self, width: int) -> Content:
        if self._cut is not None and self._cut[0] == width:
            return self._cut[1]
        wrapped = self.content.wrap(width)
        shown = self.content
        if len(wrapped) > self.lines:
            kept = wrapped[: self.lines]
            last = kept[-1].rstrip()
            room = max(width - cell_len(self.pointer), 0)
            if last.cell_length > room:
                space = last.plain.rfind(" ", 0, room + 1)
                last = last[:space] if space > room // 2 else last.truncate(room)
            kept[-1] = last.rstrip() + self.pointer
            shown = Content("\n").join(kept)
        self._cut = (width, shown)
        return shown

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        return self.cut(width).render_strips(width, height, style, options)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.cut(width).get_height(rules, width)


class DeskToast(Toast):
    """Textual's toast, its text cut to what its box holds (the toast's `max-height`,
    ui/styles/app.tcss) with a pointer to the Log pane, where what a toast of the
    desk's says is whole (`SilvertineApp.notify`)."""

    def __init__(self, notification: Notification) -> None:
        super().__init__(notification)
        self.notification = notification
        self.rack: ToastRack | None = None
        self.waiting = False
        """Under a dialog where it does not fit whole: its title alone shows, and where
        it is said (`fit_over_dialog`, `waiting_note`)."""

    def on_mount(self) -> None:
        holder = self.parent
        rack = holder.parent if holder is not None else None
        self.rack = rack if isinstance(rack, ToastRack) else None
        if self.rack is not None:
            fit_toasts(self.rack)

    def on_unmount(self) -> None:
        if self.rack is not None:  # an older toast may show now
            self.app.call_later(fit_toasts, self.rack)

    def render(self) -> Content:
        if self.waiting:
            return self.waiting_note()
        content = super().render()
        cap = self.styles.max_height
        if cap is None or cap.unit != Unit.CELLS:
            return content
        top, _, bottom, _ = self.styles.padding
        lines = int(cap.value) - top - bottom
        title = self.notification.title
        if lines <= 1 and title:  # one line (80x24): the title leads it
            message = Content(self.notification.message)
            style = self.get_visual_style("toast--title")
            content = Content.assemble((title, style), ": ", message)
        pointer = " …"
        app = self.app
        logged = title or self.notification.severity != "information"
        if logged and getattr(app, "has_session", False):
            try:
                pointer = f" … more in Log ({named_key(app, 'pane.log')})"
            except IndexError:  # the Log pane's key unbound in the key map
                pointer = " … more in Log"
        return CappedToast(content, lines, pointer)

    def waiting_note(self) -> Content:
        """What a titled toast that does not fit whole under a dialog shows there: its
        title and where it is said whole, never its message cut mid-way."""
        said = "on the desk once this dialog closes"
        app = self.app
        if getattr(app, "has_session", False):  # its line is in the Log pane
            try:
                said = f"whole in Log ({named_key(app, 'pane.log')}); {said}"
            except IndexError:  # the Log pane's key unbound in the key map
                said = f"whole in Log; {said}"
        style = self.get_visual_style("toast--title")
        return Content.assemble((self.notification.title, style), f": {said}")

    def set_waiting(self, waiting: bool) -> None:
        if waiting != self.waiting:
            self.waiting = waiting
            self.refresh(layout=True)


def show_toasts(rack: ToastRack, notifications: Notifications) -> None:
    """`ToastRack.show`, with the desk's toasts; a toast that went takes its holder
    with it (Textual's left the holder). The toasts show on the rack's screen only:
    the racks of the screens under it (the desk under a dialog) go out of sight, and
    show again when their screen does. The desk's, drawn around a dialog, showed each
    toast a second time beside the dialog's, over the header. A dialog's toasts show
    over the desk's header after what it says of the desk's state
    (`DeskHeader.place_toasts`: `BUS DOWN`, `KILL NOT SENT` were under them).

    Called later than asked (`call_later`): a rack whose screen went meanwhile (the app
    exiting) has nothing to show; its `screen` raised `NoScreen` out of the app."""
    try:
        own = rack.screen
    except NoScreen:
        return
    for screen in rack.app.screen_stack:
        if screen is not own:
            for other in screen.query_children(ToastRack):
                other.display = False
            for header in screen.query_children(DeskHeader):
                header.place_toasts(rack)
    rack.display = bool(notifications)
    for toast in rack.query(DeskToast):
        if toast.notification not in notifications:
            holder = toast.parent
            (holder if isinstance(holder, ToastHolder) else toast).remove()
    new: list[Notification] = []
    for notification in notifications:
        try:
            rack.get_child_by_id(ToastRack._toast_id(notification))
        except NoMatches:
            if not notification.has_expired:
                new.append(notification)
    holders = [ToastHolder(DeskToast(each), id=ToastRack._toast_id(each)) for each in new]
    fit_toasts(rack, holders)  # before they show: the newest never shows cut
    if holders:
        rack.mount_all(holders)


KILL_TOAST_TITLE = "kill switch"
"""How the kill switch's toasts are titled, in any case: this desk's report of its kill
(`kill switch: NOT everything cancelled`, `kill switch`), its `still going`, `failed`,
`refused`, a watching desk's `KILL NOT SENT`, `Kill switch sent` (the bus down), and
another desk's kill read back (`KILL SWITCH`). Each says trading is HALTED, or why it
is not yet (`is_kill_toast`)."""


def is_kill_toast(notification: Notification) -> bool:
    """Whether `notification` is one of the kill switch's toasts (`KILL_TOAST_TITLE`)."""
    return notification.title.casefold().startswith(KILL_TOAST_TITLE)


def kill_toasts(app: App[Any]) -> list[Notification]:
    """The kill switch's toasts on the screen now (`is_kill_toast`)."""
    return [n for n in app._notifications if is_kill_toast(n)]


def dismiss_kill_toasts(app: App[Any], among: Iterable[Notification] | None = None) -> int:
    """Take the kill switch's toasts (of `among` only, when given) off the screen,
    every other toast left as it is; how many went. Called once trading leaves HALTED
    (a resume, here or on another desk) and, with those shown before it was pulled, as
    a later kill reports it cancelled everything: the error toast
    of a kill that failed in part (`kill switch: NOT everything cancelled`, "Trading
    HALTED", 60 s) stayed ~40 s over a header that read ACTIVE. Their Log lines stay
    (the Log is the record; a toast is what is true now). Through Textual's
    `_unnotify`, a private method of the pinned version (as `show_toasts` uses its
    rack): check it on an upgrade."""
    gone = kill_toasts(app)
    if among is not None:
        kept = {n.identity for n in among}
        gone = [n for n in gone if n.identity in kept]
    return _dismiss(app, gone)


def _dismiss(app: App[Any], gone: Sequence[Notification]) -> int:
    """Take `gone` off the screen, refreshed once; how many went."""
    for notification in gone:
        app._unnotify(notification, refresh=False)
    if gone:
        app._refresh_notifications()
    return len(gone)


def said_key(message: str) -> str:
    """A toast's words as another toast's are compared with them: spaces and line
    breaks as one space, a full stop at the end left out (the session's alert says
    "... reconcile." of the line the engine journaled as "... reconcile")."""
    return " ".join(message.split()).rstrip(".")


def dismiss_saying(app: App[Any], title: str, message: str) -> int:
    """Take down the toasts titled `title` that show `message` (as shown), every other
    toast left as it is; how many went."""
    return _dismiss(
        app, [n for n in app._notifications if n.title == title and n.message == message]
    )


def dismiss_answered(app: App[Any], title: str) -> int:
    """Take down the toasts a new toast titled `title` answers, every other toast left
    as it is; how many went. A watching desk's `paper/main heard from again` answers
    its `paper/main not heard from` (engine/projection.py `heard_again_title`): that
    error toast (60 s) stayed 18 to 35 s over a Health pane that read LIVE and a Log
    that said the broker was heard from again. Its Log line stays (the Log is the record; a toast is
    what is true now). Through Textual's `_unnotify`, as `dismiss_kill_toasts`."""
    # (Imported here: the engine is not loaded before the desk's first frame.)
    from ...engine.projection import heard_again_title

    answered = heard_again_title(title)
    if not answered:
        return 0
    # As that toast's title was shown (cut: a broker of very many accounts).
    answered = toast_title(answered)
    return _dismiss(app, [n for n in app._notifications if n.title == answered])


def fit_toasts(rack: ToastRack, coming: Sequence[ToastHolder] = ()) -> None:
    """Only the newest toasts that fit in the rack show (each at most its `max-height`,
    ui/styles/app.tcss), the newest whole; an older one (class `-older`) shows when a
    newer goes, if its own time is not up. Textual's rack scrolled a pile to its end,
    but the rack (`visibility: hidden`, its toasts visible) is never laid out with a
    size, so it never scrolled: at 120x36 a fifteen-row toast pushed the newest one
    off the screen, over the key bar. A dialog's rack: `fit_over_dialog`."""
    if not rack.is_attached:
        return
    live = rack.app._notifications
    toasts = [
        toast
        for holder in rack.query_children(ToastHolder)
        for toast in holder.query_children(DeskToast)
        if toast.notification in live
    ]
    holders = [toast.parent for toast in toasts if isinstance(toast.parent, ToastHolder)]
    holders += coming
    if _over_dialog(rack):
        fit_over_dialog(rack, toasts, coming)
        return
    if not toasts or not holders:
        return  # no toast's style to measure by yet: each fits them as it mounts
    size, viewport = rack.screen.size, rack.app.size
    styles = rack.styles
    rows = Fraction(size.height)
    for scalar in (styles.height, styles.max_height):
        if scalar is not None and not scalar.is_auto:
            rows = min(rows, scalar.resolve(size, viewport))
    rows -= styles.margin.top + styles.margin.bottom
    toast = toasts[-1].styles
    cap = toast.max_height
    each = (cap.resolve(size, viewport) if cap is not None else rows) + toast.margin.top
    shown = max(1, int(rows // each)) if each > 0 else 1
    for n, holder in enumerate(reversed(holders)):
        holder.set_class(n >= shown, "-older")


_FOLLOWED: WeakSet[ToastRack] = WeakSet()
"""The dialogs' racks fitted again after each layout of their screen (`_follow`)."""


def _over_dialog(rack: ToastRack) -> bool:
    from ..screens.dialog import Dialog  # (screens import the widgets)

    return isinstance(rack.screen, Dialog)


def dialog_rows(rack: ToastRack) -> int | None:
    """The rows a dialog's toast may take: from the screen's top (the header's line,
    after its state) down to the dialog's box; None while the box is not laid out."""
    try:
        box = rack.screen.query_one("#dialog")
    except NoMatches:
        return None
    region = box.region
    if not region.height:
        return None
    return max(region.y - rack.styles.margin.top, 0)


def toast_rows(toast: DeskToast, width: int, text: Content | None = None) -> int:
    """The rows `toast` takes whole (its title and every line of its message, uncut;
    or `text`) in a rack `width` cells wide."""
    gutter = toast.styles.gutter
    if text is None:
        text = Toast.render(toast)  # Textual's: the title and the message, whole
    lines = len(text.wrap(max(width - gutter.width, 1))) if text.plain else 1
    return lines + gutter.height


def fit_over_dialog(
    rack: ToastRack, toasts: Sequence[DeskToast], coming: Sequence[ToastHolder] = ()
) -> None:
    """Under a dialog the newest toast shows whole, over the header after its state
    (`DeskHeader.place_toasts` sets the rack's margin) and the rows below it down to
    the dialog's box (`dialog_rows`), or not at all: it shows on the desk once the
    dialog is answered, if its time is not up. Where it does not fit whole, a titled
    toast shows its title and where it is said (`DeskToast.waiting_note`: `Claims not
    renewed: whole in Log (7); on the desk once this dialog closes`), if that fits;
    never its message cut mid-way. Its rack had two rows whatever it held, and a
    toast of more was cut to `… more in Log (7)` while the Log was out of reach.
    Fitted again after every layout of the dialog (its box grows when it says more:
    `ConfirmScreen.note`, a modify's problems; the header's state moves the rack), so
    a toast never lies over the box."""
    _follow(rack)
    for holder in coming:  # not styled yet: each is measured as it mounts
        holder.set_class(True, "-older")
    # As wide as the screen after the header's state, not wider: `1fr` beside the
    # margin ran 20 cells past the screen's edge, the end of every line cut there.
    margin = rack.styles.margin
    width = max(rack.screen.size.width - margin.left - margin.right, 1)
    drawn = rack.styles.width
    if drawn is None or drawn.unit != Unit.CELLS or drawn.value != width:
        rack.styles.width = width
    rows = dialog_rows(rack)
    newest = toasts[-1] if toasts and not coming else None
    show = None
    if newest is not None and rows is not None:
        if toast_rows(newest, width) <= rows:
            show = newest
            newest.set_waiting(False)
        elif newest.notification.title and (
            toast_rows(newest, width, newest.waiting_note()) <= rows
        ):
            show = newest
            newest.set_waiting(True)
    for toast in toasts:
        parent = toast.parent
        if isinstance(parent, ToastHolder):
            parent.set_class(toast is not show, "-older")


def _follow(rack: ToastRack) -> None:
    """Fit `rack` again after each layout of its dialog (once subscribed)."""
    if rack in _FOLLOWED or not rack.is_running:
        return
    _FOLLOWED.add(rack)
    rack.screen.screen_layout_refresh_signal.subscribe(rack, lambda _: fit_toasts(rack))
