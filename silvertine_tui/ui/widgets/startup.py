"""The start-up banner: how far recovery is, shown over the desk until it is done.

The desk is drawn at once on launch; the session recovers meanwhile (journal replay,
broker connect, reconcile). The banner says what it is doing ("recovering: 120,000 of
300,000 events at 60,000/s, ~3 s left") and that orders wait. It polls the session's
`RecoveryProgress` on its own timer (the replay yields to the loop between pages, so
the timer runs), and removes itself once the session is ready. Over a watching desk
rebuilding after Redis lost data (it sends no order) the second line says what the
rebuild, then the wait for a desk's write-back, means for what it shows
(`WATCH_REBUILDING`, `WATCH_WAITING`), not that orders wait; so does a watching desk's
start (`WATCH_STARTING`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from ...engine.recovery import RecoveryProgress, StartPhase
from ..format import shown
from ..keymap import named_key

if TYPE_CHECKING:
    from ...engine.projection import DeskProjection

POLL_S = 0.1
BAR_WIDTH = 30

ORDERS_WAIT = "orders are refused until recovery and reconcile are done"

WATCH_REBUILDING = "what this watching desk shows may be short until the rebuild is done"
"""A watching desk's second line while it rebuilds after Redis lost data: it sends no
order, so `ORDERS_WAIT` says nothing there (it read so before)."""
WATCH_STARTING = "this desk only watches: what it shows may be short until it has read the streams"
"""A watching desk's second line while it starts (reads the journals back): it sends no
order, so `ORDERS_WAIT` says nothing there (it read so before)."""
WATCH_WAITING = "until then what this desk shows of it may be short: marked {mark}"
"""A watching desk's second line while it waits for a desk's write-back (the first
line names the account: engine/watch.py `WAITING_WRITE_BACK`); `{mark}` is the mark its
orders and balances carry meanwhile (`DeskProjection.unsure`: `JOURNAL LOST`)."""


def banner_text(
    progress: RecoveryProgress,
    quit_key: str = "q",
    *,
    watching: DeskProjection | None = None,
    starting: bool = False,
) -> Text:
    """Two lines: the phase with its numbers and a bar, then what it means for orders
    (`quit_key`: the key that quits, after the key map); on a desk that only watches
    (`watching`: its projection), which sends none, what it means for what it shows
    (as it starts: `starting`; else rebuilding after Redis lost data)."""
    line = Text(shown(progress.text()), style="bold")  # an error's words: `shown`
    if progress.phase == StartPhase.REPLAYING and progress.total:
        filled = min(progress.done * BAR_WIDTH // max(progress.total, 1), BAR_WIDTH)
        line.append("  [" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
    if progress.phase == StartPhase.FAILED:
        return line + Text(
            f"\nsee the log file; quit with {quit_key} and start again", style="bold"
        )
    if watching is None:
        return line + Text(f"\n{ORDERS_WAIT}")
    return line + Text(f"\n{WATCH_STARTING if starting else watching_line(watching)}")


def watching_line(view: DeskProjection) -> str:
    """The second line of a watching desk's banner: `WATCH_WAITING` once rebuilt while a
    desk's write-back is waited for (its broker's rows are marked then, `unsure`; a
    rebuild empties the projection first), else `WATCH_REBUILDING`."""
    marks = sorted(set(view.unsure.values()))
    if marks:
        return WATCH_WAITING.format(mark=", ".join(marks))
    return WATCH_REBUILDING


class StartupBanner(Static):
    DEFAULT_CSS = """
    StartupBanner {
        dock: top;
        height: 4;
        padding: 0 1;
        border: round $warning;
        background: $panel;
        color: $warning;
    }
    StartupBanner.-failed { border: round $error; color: $error; }
    """

    def __init__(
        self,
        progress: RecoveryProgress,
        *,
        id: str | None = "startup",
        title: str = "starting",
        watching: DeskProjection | None = None,
    ) -> None:
        super().__init__(
            banner_text(progress, watching=watching, starting=title == "starting"), id=id
        )
        self.progress = progress
        self.title = title  # "rebuilding": a watching desk's after Redis lost data
        self.watching = watching  # a watching desk's projection: `watching_line`
        self.shown: list[str] = []  # what was drawn, in order (tests read it)
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        self.border_title = self.title
        self._timer = self.set_interval(POLL_S, self.poll, name="startup-progress")
        self.poll()

    def poll(self) -> None:
        text = banner_text(
            self.progress,
            named_key(self, "app.quit"),
            watching=self.watching,
            starting=self.title == "starting",
        )
        if not self.shown or self.shown[-1] != text.plain:
            self.shown.append(text.plain)
            self.update(text)
        self.set_class(self.progress.phase == StartPhase.FAILED, "-failed")

    def done(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.remove()
