"""The start-up banner: how far recovery is, shown over the desk until it is done.

The desk is drawn at once on launch; the session recovers meanwhile (journal replay,
broker connect, reconcile). The banner says what it is doing ("recovering: 120,000 of
300,000 events at 60,000/s, ~3 s left") and that orders wait. It polls the session's
`RecoveryProgress` on its own timer (the replay yields to the loop between pages, so
the timer runs), and removes itself once the session is ready.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from ...engine.recovery import RecoveryProgress, StartPhase
from ..format import shown
from ..keymap import named_key

POLL_S = 0.1
BAR_WIDTH = 30

ORDERS_WAIT = "orders are refused until recovery and reconcile are done"


def banner_text(progress: RecoveryProgress, quit_key: str = "q") -> Text:
    """Two lines: the phase with its numbers and a bar, then what it means for orders
    (`quit_key`: the key that quits, after the key map)."""
    line = Text(shown(progress.text()), style="bold")  # an error's words: `shown`
    if progress.phase == StartPhase.REPLAYING and progress.total:
        filled = min(progress.done * BAR_WIDTH // max(progress.total, 1), BAR_WIDTH)
        line.append("  [" + "#" * filled + "." * (BAR_WIDTH - filled) + "]")
    if progress.phase == StartPhase.FAILED:
        return line + Text(
            f"\nsee the log file; quit with {quit_key} and start again", style="bold"
        )
    return line + Text(f"\n{ORDERS_WAIT}")


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
        self, progress: RecoveryProgress, *, id: str | None = "startup", title: str = "starting"
    ) -> None:
        super().__init__(banner_text(progress), id=id)
        self.progress = progress
        self.title = title  # "rebuilding": a watching desk's after Redis lost data
        self.shown: list[str] = []  # what was drawn, in order (tests read it)
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        self.border_title = self.title
        self._timer = self.set_interval(POLL_S, self.poll, name="startup-progress")
        self.poll()

    def poll(self) -> None:
        text = banner_text(self.progress, named_key(self, "app.quit"))
        if not self.shown or self.shown[-1] != text.plain:
            self.shown.append(text.plain)
            self.update(text)
        self.set_class(self.progress.phase == StartPhase.FAILED, "-failed")

    def done(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.remove()
