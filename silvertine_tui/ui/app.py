"""The Silvertine Textual app: bindings and keymap, themes, the frame timer, the feed
reader, and the commands that reach the engine.

Data flow: one worker tails the bus (the session's feed plus each broker's market
data) into `FeedModel` a batch at a time (dict updates only; quotes conflated). A
timer at `ui.frame_rate` draws what changed from the model and from the engine's
state; the quotes are drawn at Textual's own screen updates, just before each
(`MainScreen.quotes_arrived`). The render path never awaits.

Start-up (`silvertine run`): the app is made from the settings, and its first frame
(the desk's frame) is drawn before anything of the session exists; the engine's,
brokers' and bus's modules, the session, the desk and the feed model come right after
it (`_boot`). This module and the desk's frame import none of them at their top.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from textual import events
from textual.app import App, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets._toast import ToastRack

from ..domain import (
    Instrument,
    OrderRequest,
    TradingState,
    adds_to_position,
    new_client_order_id,
)
from .commands import DeskCommands
from .draw_now import draw_now
from .format import ERROR_TITLE, cut, shown, state_words, toast_title
from .key_order import KeyOrder
from .keymap import PANES, bindings, named_key, unknown_ids, without_clashes
from .screens.confirm import (
    ConfirmScreen,
    kill_not_heard,
    not_cancelled_count,
    not_cancelled_here,
    not_heard,
)
from .screens.dialog import QUIT_DIALOG_ID, Dialog
from .screens.help import HelpScreen
from .screens.main import MainScreen
from .state import UserState
from .themes import (
    TRADING_DEFAULTS,
    LoadedThemes,
    asked_theme_problems,
    load_themes,
    pick_theme,
)
from .widgets.header import DeskHeader
from .widgets.line_table import LineTable
from .widgets.palette import Palette
from .widgets.toasts import (
    dismiss_answered,
    dismiss_kill_toasts,
    dismiss_saying,
    kill_toasts,
    said_key,
    show_toasts,
)

if TYPE_CHECKING:
    from textual.driver import Driver
    from textual.notifications import SeverityLevel

    # Imported after the first frame (`_import_session_modules`), with the session.
    from ..config import Settings
    from ..engine import Session
    from ..engine.commands import (
        CancelAll,
        CancelAllDone,
        Command,
        DrivenElsewhere,
        Failed,
        Kill,
        KillDone,
        Refused,
        Resume,
        SetTradingState,
    )
    from ..engine.projection import DeskProjection
    from ..engine.recovery import RecoveryProgress
    from .desk import Desk
    from .model import FEED_BACKLOG, FeedModel, recent_start
    from .screens.quit import QuitChoice, QuitScreen
    from .terminal_gone import TerminalGone
    from .widgets.startup import StartupBanner

log = logging.getLogger(__name__)

Clock = Callable[[], float]
FrameHook = Callable[["SilvertineApp"], None]
SessionBuilder = Callable[[], "Session"]


def _import_session_modules() -> None:
    """Bind this module's names from the engine and the session's side of the UI (the
    desk, the feed model, the start-up banner, the quit dialog): they import the
    engine's, brokers' and bus's modules, which the desk's first frame does not need.
    Called before the app has a session; the methods that use these names run only
    once it has one."""
    global CancelAll, CancelAllDone, Command, Desk, DeskProjection, FEED_BACKLOG, Failed
    global FeedModel, Kill, KillDone, QuitChoice, QuitScreen, Refused, Resume, Session
    global SetTradingState, StartupBanner, recent_start
    from ..engine import Session
    from ..engine.commands import (
        CancelAll,
        CancelAllDone,
        Command,
        Failed,
        Kill,
        KillDone,
        Refused,
        Resume,
        SetTradingState,
    )
    from ..engine.projection import DeskProjection
    from .desk import Desk
    from .model import FEED_BACKLOG, FeedModel, recent_start
    from .screens.quit import QuitChoice, QuitScreen
    from .widgets.startup import StartupBanner


GC_THRESHOLDS = (50_000, 50, 20)
GC_YOUNG_AFTER_FRAME = 2_000
"""Collect the young generation right after a frame reaches the screen once this many
objects have accumulated. Textual's restyling on every focus change leaves reference
cycles (about a thousand objects per key press); freeing ten thousand of them at once
took 25-50 ms at a random moment, enough to hold a quote back past the next frame. Just
after a frame there is most of a frame interval to spare. `GC_THRESHOLDS[0]` remains
the backstop for when frames stop."""


KILL_SENDING = "KILL SENDING"
"""The header's note while a watching desk's KILL is being written."""
KILL_NOTE_S = 60.0
"""How long the header says a watching desk's kill switch was not sent, once its bus is
back (as long as an error toast shows): the trader pulls it again, or not."""


SWITCH_INTERVAL_S = 0.001
"""How long the loop's thread keeps the interpreter lock while the terminal's reader or
writer thread waits for it (Python's default: 5 ms). A key is read, and a frame
written, by those threads: on the working desk (`python -m benchmarks ui`) a key took
4.9 ms at the median (57 ms at worst) from the terminal to the reader, and a frame
4.2 ms (p90 15.9) from the loop to the writer; at 1 ms, 0.8 ms (5.2) and 1.4 ms (3.4).
The loop gives the lock up only when one of them is waiting."""


def collect_after_frame() -> None:
    """Collect the young generation, and the older ones when their thresholds say so.

    Python cascades into generations 1 and 2 only from its own automatic collections,
    and with the young generation collected here those never come: cycles that outlived
    one young collection then stayed for good (an idle desk grew about 1.8 MB a
    minute). The cascade is done here instead, by the same thresholds. A full pass
    (every `GC_THRESHOLDS[1] * GC_THRESHOLDS[2]` young ones: about every ten minutes on
    an idle desk) walks only what is not frozen at start-up, mostly the memory bus's
    retained market data (~100 ms for 10,000 books); a rarer one let about 0.5 MB a
    minute of old cycles build up in between.
    """
    gc.collect(0)
    _, middle, old = gc.get_count()
    if old >= GC_THRESHOLDS[2]:
        gc.collect(2)
    elif middle >= GC_THRESHOLDS[1]:
        gc.collect(1)


_ASCII_KEYS = {"⏎": "enter", "↑": "up", "↓": "down", "←": "left", "→": "right", "⌫": "bksp"}

# Actions that act on the main screen: not while a dialog is open.
_MAIN_ONLY = frozenset(
    {"buy", "sell", "show_pane", "next_pane", "next_theme", "cancel_all", "zoom"}
)


_V = TypeVar("_V")

SAID_KEPT = 500
"""Toasts remembered by what they say (`SilvertineApp._check_alerts`): enough for an
alert and the ERROR line that says the same to meet, bounded over a long day."""


def _keep(said: dict[str, _V], key: str, value: _V) -> None:
    """`said[key] = value`, the oldest entries going beyond `SAID_KEPT`."""
    said.pop(key, None)
    said[key] = value
    while len(said) > SAID_KEPT:
        del said[next(iter(said))]


class SilvertineApp(App[None]):
    TITLE = "Silvertine"
    CSS_PATH = "styles/app.tcss"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {DeskCommands}

    desk: Desk
    model: FeedModel

    def __init__(
        self,
        session: Session | None = None,
        *,
        settings: Settings | None = None,
        build_session: SessionBuilder | None = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        state: UserState | None = None,
        theme: str | None = None,
        theme_dirs: Iterable[Path] | None = None,
        themes: LoadedThemes | None = None,
        new_order_id: Callable[[], str] = new_client_order_id,
        on_frame: FrameHook | None = None,
        toast_timeout_s: float = 6.0,
        cursor_blink: bool = True,
        projection: DeskProjection | None = None,
        accounts: list[str] | None = None,
    ) -> None:
        """Either a `session` (built; opened or not), or the `settings` and how to
        build the session (`silvertine run`): the desk's first frame is drawn from the
        settings, and `build_session` is called just after it, then the bus opened; if
        either fails the app exits with the exception in `start_error`.

        `projection`: what the panes read (the session's unless given: a desk
        rebuilt from a journal); `accounts`: the ticket's (the session's brokers).
        `themes`: the themes already read (the CLI reads them to check `ui.theme` and
        `--theme`), else they are read from `theme_dirs` (default: `default_theme_dirs`)."""
        if session is not None:
            settings = session.settings
        elif settings is None or build_session is None:
            raise TypeError("SilvertineApp needs a session, or the settings and build_session")
        self.settings: Settings = settings
        self._session: Session | None = None
        self._build_session = build_session
        self.start_error: Exception | None = None
        """Why the session could not be built or its bus opened (the app then exits)."""
        self.crashed: BaseException | None = None
        """The exception no handler caught, which ended the app (`_handle_exception`)."""
        self.user_state = state if state is not None else UserState()
        self.loaded_themes: LoadedThemes = themes if themes is not None else load_themes(theme_dirs)

        def make_desk(session: Session) -> Desk:
            model = FeedModel(
                prefix=session.bus.layout.prefix,
                clock=clock,
                notices_from_ms=int(clock() * 1000) - 1000,
                own_desk=session.desk_id,
                own_bus=session.bus_desk,
            )
            return Desk(
                session=session,
                model=model,
                clock=clock,
                monotonic=monotonic,
                new_order_id=new_order_id,
                toast_timeout_s=toast_timeout_s,
                cursor_blink=cursor_blink,
                projection=projection,
                accounts=list(accounts or []),
            )

        self._make_desk = make_desk
        self._toast_timeout_s = toast_timeout_s
        self.on_frame = on_frame
        self.owns_session = False
        self.ready = asyncio.Event()
        self.feed_ready = asyncio.Event()
        self.frames = 0
        self._claims_lapsed = False  # `_check_claims`: told already
        # Brokers whose claim this desk lost and whose taker is known gone, told once
        # (`_check_claims_freed`).
        self._claims_freed: set[str] = set()
        # The session's alerts toasted, and the bus's ERROR lines toasted as "Error", by
        # what they say (`said_key`): one toast for both (`_check_alerts`).
        # The newest `SAID_KEPT` of each: every desk on the bus may say ERROR lines all
        # day, and a set of them grew without end.
        self._alerts_said: dict[str, None] = {}
        self._errors_toasted: dict[str, str] = {}  # -> the toast's message as shown
        self._health_key_aside = False  # `_check_health_key`: told already
        # A watching desk's kill switch no desk holds (`_kill_note`): what the header
        # says in the trading state's place, and since when (the bus last seen down).
        self._kill_note = ""
        self._kill_note_since = 0.0
        self._halted = False  # trading read HALTED at the last frame (`_check_kill_toasts`)
        self._fed: set[tuple[str, str]] = set()  # accounts whose streams the feed reads
        # The session's progress shown (its start's), and the banner over a rebuild's
        # (`_check_rebuild`).
        self._progress_shown: RecoveryProgress | None = None
        self._rebuild_banner: StartupBanner | None = None
        self._frame_timer: Timer | None = None
        self._requested_theme = theme
        self._screenshots: dict[str, Path] = {}  # delivery key -> the file being written
        self._quitting: asyncio.Task[None] | None = None  # `quit_now`'s shutdown, once
        super().__init__()
        self.key_order = KeyOrder(self)
        for textual_theme in self.loaded_themes.textual_themes():
            self.register_theme(textual_theme)
        self.theme = pick_theme(
            [theme, self.user_state.theme, settings.ui.theme], self.theme_names()
        )
        self._theme_unknown = self._unknown_theme(theme, settings)
        self.palette = Palette.from_variables(self._theme_variables())
        if session is not None:
            self._attach_session(session)

    @property
    def session(self) -> Session:
        """The trading session (built after the first frame: see `__init__`)."""
        if self._session is None:
            raise RuntimeError("the session is built after the desk's first frame")
        return self._session

    @property
    def has_session(self) -> bool:
        """Whether the session, the desk and the feed model are there."""
        return self._session is not None

    def _attach_session(self, session: Session) -> None:
        """The desk and the feed model over `session`."""
        _import_session_modules()
        self.desk = self._make_desk(session)
        self.model = self.desk.model
        self.model.describer.instruments = self.find_instrument
        self.model.describer.orders = self.find_order
        self._session = session
        session.on_new_accounts(self._accounts_added)

    def _accounts_added(self, accounts: list[tuple[str, str]]) -> None:
        """A watching desk took on another desk's journals: their health lines, log and
        quotes from here on (the panes read them from the projection already)."""
        self.desk.accounts += [f"{b}/{a}" for b, a in accounts]
        screen = self._main()
        if screen is not None:  # else its ticket is composed with them
            screen.ticket.set_accounts(self.desk.accounts)
        if self.feed_ready.is_set():  # else the feed starts with them, or reads them then
            self._feed_more()

    def _feed_more(self) -> None:
        """A reader of the log's and quotes' streams of the session's accounts the feed
        does not read yet (`_fed`)."""
        new = [account for account in self.session.accounts() if account not in self._fed]
        if not new:
            return
        layout = self.session.bus.layout
        fed = {layout.md(broker) for broker, _ in self._fed}
        self._fed.update(new)
        streams = {layout.exec(b, a): "0-0" for b, a in new}
        added = {layout.md(broker) for broker, _ in new} - fed
        market = {
            md: start for md, start in self.session.market_feed_streams().items() if md in added
        }
        self.run_worker(self._read_streams(streams, market), group="feed", exit_on_error=False)

    def find_instrument(self, key: str) -> Instrument | None:
        """An instrument by key on whichever broker lists it (for printing numbers)."""
        for found in self.desk.view.instruments.values():
            if key in found:
                return found[key]
        return None

    def find_order(self, client_order_id: str) -> OrderRequest | None:
        """An order the log's describer has not read the request of (it was sent before
        the log's backlog): its request with the terms in force now."""
        from ..events.summary import terms_of  # loaded with the feed model already

        view = self.desk.view.order(client_order_id)
        return terms_of(view.order) if view is not None else None

    # -- themes ---------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(TRADING_DEFAULTS)

    def theme_names(self) -> list[str]:
        return list(self.loaded_themes.themes)

    def _theme_variables(self) -> dict[str, str]:
        theme = self.current_theme
        return {
            **TRADING_DEFAULTS,
            **theme.to_color_system().generate(),
            **theme.variables,
        }

    def _unknown_theme(self, theme: str | None, settings: Settings) -> str:
        """Why the theme asked for (`theme`, else a `ui.theme` the config sets) is not
        the one shown ("" when it is known). The CLI refuses both before the app; an app
        built otherwise says it (a toast and a log line) and shows `self.theme`."""
        found = asked_theme_problems(theme, settings.ui, self.loaded_themes, argument="theme")
        if not found:
            return ""
        field, problem = found[0]
        return f"{field}: {problem} Showing {self.theme}."

    def switch_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"no theme named {name!r}", severity="error")
            return
        self.theme = name

    def _on_theme_changed(self) -> None:
        self.palette = Palette.from_variables(self._theme_variables())
        screen = self._main()
        if screen is not None:
            screen.restyle(self.palette)
        if self.theme not in self.loaded_themes.themes:
            return  # not a Silvertine theme (no trading colours): never the saved choice
        self.user_state.remember_theme(self.theme)
        self.run_worker(self.user_state.save, thread=True, group="state", exit_on_error=False)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands but those the desk does its own way. Its theme picker
        offers Textual's themes, which lack the trading colours and would be remembered
        half-applied (the palette's themes are Silvertine's, `DeskCommands`). Its
        Maximize lays a pane over the header (PAPER/LIVE, the trading state) and its
        Keys panel covers the KILL key and lists ctrl+q: the desk has `z` (zoom) and
        F1 (help)."""
        replaced = {
            self.action_change_theme,
            self.action_show_help_panel,
            self.action_hide_help_panel,
            screen.action_maximize,
            screen.action_minimize,
        }
        for command in super().get_system_commands(screen):
            if command.callback not in replaced:
                yield command

    # -- screenshots (the palette's Screenshot, `action_screenshot`) ------------------

    def deliver_screenshot(
        self,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """Textual's, into a directory that is there (`ui/screenshots.py`: the download
        directory when it exists, else `screenshots/` beside the log, made when
        needed); the toast says where the file went, or why it is not there."""
        from .screenshots import file_name, prepare, screenshot_dir

        directory = Path(path) if path else screenshot_dir(self.settings.log.file)
        problem = prepare(directory)
        if problem:
            log.warning("ui.screenshot_failed", extra={"problem": problem})
            self.notify(problem, title="Screenshot", severity="error", timeout=30, markup=False)
            return None
        name = filename or file_name(self.title, time_format)
        key = super().deliver_screenshot(name, str(directory), time_format)
        if key is not None:
            self._screenshots[key] = directory / name
        return key

    def on_delivery_complete(self, event: events.DeliveryComplete) -> None:
        if event.name != "screenshot":
            return
        from .screenshots import saved

        event.prevent_default()  # (Textual's own toast says less)
        target = self._screenshots.pop(event.key, None)
        path = event.path if event.path is not None else target
        log.info("ui.screenshot_saved", extra={"path": str(path)})
        self.notify(saved(path), title="Screenshot", markup=False)

    def on_delivery_failed(self, event: events.DeliveryFailed) -> None:
        if event.name != "screenshot":
            return
        from .screenshots import failed

        event.prevent_default()  # (Textual's own says only "Failed to save screenshot")
        problem = failed(self._screenshots.pop(event.key, None), event.exception)
        log.warning("ui.screenshot_failed", extra={"problem": problem})
        self.notify(problem, title="Screenshot", severity="error", timeout=30, markup=False)

    def action_next_theme(self) -> None:
        names = self.theme_names() or [self.theme]
        index = names.index(self.theme) if self.theme in names else -1
        self.switch_theme(names[(index + 1) % len(names)])
        self.notify(f"theme {self.theme}", timeout=2)

    def get_key_display(self, binding: Binding) -> str:
        """ASCII key names in the footer (no symbols a terminal font may lack)."""
        text = super().get_key_display(binding)
        for symbol, name in _ASCII_KEYS.items():
            text = text.replace(symbol, name)
        return text if text.isascii() else binding.key

    # -- start-up -------------------------------------------------------------------

    def on_mount(self) -> None:
        configured = dict(self.settings.ui.keymap)
        # Two bindings on one key where both answer: `silvertine` refuses the config
        # (exit 2, cli.py); an app built otherwise applies neither override and says so.
        keymap, found = without_clashes(configured)
        self.set_keymap(keymap)
        unknown = unknown_ids(keymap)
        if unknown:
            self.notify(
                f"ui.keymap: no binding with id {', '.join(unknown)}; see the help screen "
                f"({named_key(self, 'app.help')})",
                severity="warning",
            )
        if found:
            not_applied = sorted(set(configured) - set(keymap))
            for clash in found:
                log.error(
                    "app.keymap_clash", extra={"problem": str(clash), "not_applied": not_applied}
                )
            self.notify(
                "\n".join(str(clash) for clash in found)
                + f".\nNot applied: {', '.join(not_applied)}: "
                + ("it keeps its" if len(not_applied) == 1 else "they keep their")
                + " default keys.",
                title="Key map refused",
                severity="error",
                timeout=60.0,
            )
        for problem in self.loaded_themes.problems:
            self.notify(problem, title="Theme file skipped", severity="warning")
        if self._theme_unknown:
            log.warning("ui.theme_unknown", extra={"problem": self._theme_unknown})
            self.notify(self._theme_unknown, title="Unknown theme", severity="error")
        self.theme_changed_signal.subscribe(self, lambda _theme: self._on_theme_changed())
        self.palette = Palette.from_variables(self._theme_variables())
        if self.has_session:
            self.push_screen(MainScreen(self.desk))
        else:  # the desk's frame from the settings; the session is built after it
            self.push_screen(MainScreen(settings=self.settings))
        self._frame_timer = self.set_interval(
            1.0 / self.settings.ui.frame_rate, self.frame, name="frame"
        )
        # Nothing that can come after the first frame goes before it: the session
        # starts once the desk has been drawn.
        self.call_after_refresh(self.run_worker, self._boot, group="boot", exit_on_error=True)

    async def _boot(self) -> None:
        """Start the session behind the desk: the desk is on screen at once, with a
        banner that shows the recovery's progress; orders are refused until it is done."""
        # `silvertine` pauses the collector until the first frame (cli.main): it is out.
        gc.enable()
        if not self.has_session and not await self._open_session():
            return
        screen = self._main(filled=False)
        if screen is not None and not screen.drawable:
            await screen.fill(self.desk)  # the panes' contents come after the first frame
        session = self.session
        if not session.ready:
            # The CLI opens the bus first (and closes the session); a session not even
            # opened is the app's to close.
            self.owns_session = not session.started
            if not await self._start_session():
                return
        # Everything built so far (modules, widgets, the session) lives as long as the
        # app: keep it out of the cyclic collector, whose full passes over half a
        # million start-up objects would otherwise stall the loop under load.
        gc.collect()
        gc.freeze()
        # Market data makes short-lived objects by the ten thousand a second; they die
        # by reference counting. Collecting young generations less often, and the old
        # one rarely, keeps the collector's passes out of the frames (measured with
        # `python -m benchmarks ui`: loop lag p99 about 70 ms -> 40 ms).
        gc.set_threshold(*GC_THRESHOLDS)
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        if self._progress_shown is None:  # started before the app: no banner of its own
            self._progress_shown = session.progress
        self.ready.set()
        self.run_worker(self._read_feed(), group="feed", exit_on_error=False)

    async def _open_session(self) -> bool:
        """`silvertine run`: build the session (the engine's, brokers' and bus's modules
        are imported here, after the first frame) and open its bus. A failure ends the
        app with the exception in `start_error`: the command says what it was, as it
        does for what it checks before the app (cli.py)."""
        assert self._build_session is not None  # without a session, __init__ had it
        try:
            session = self._build_session()
        except Exception as exc:
            self._failed_to_start(exc)
            return False
        self._attach_session(session)
        try:
            await session.open()
        except Exception as exc:
            self._failed_to_start(exc)
            return False
        return True

    def _handle_exception(self, error: Exception) -> None:
        """An exception no handler caught (a bug) ends the app, as in Textual, with
        its traceback in the log: Textual's report went to the terminal alone, with
        the locals of every frame (which may hold a secret), and the CLI said "bye".
        `crashed` holds it for the CLI's one line and exit code (cli.EXIT_CRASHED)."""
        if self.crashed is None:
            self.crashed = error
            log.critical("app.crashed", exc_info=(type(error), error, error.__traceback__))
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        """Textual's report of a crash (a traceback with locals) is not printed: the
        log has the traceback, the CLI says where (`_handle_exception`)."""
        if self.crashed is not None:
            self._exit_renderables.clear()
            return
        super()._print_error_renderables()

    def _failed_to_start(self, exc: Exception) -> None:
        log.info("app.session_unavailable", extra={"error": str(exc)})
        self.start_error = exc
        self.exit(return_code=1)

    async def _start_session(self) -> bool:
        """Recover with the start-up banner over the desk; False if it failed (said on
        the banner and in a toast; the desk stays up so the trader can read it)."""
        progress = self.session.progress
        self._progress_shown = progress
        banner = StartupBanner(progress, watching=self.desk.view if self.session.watching else None)
        screen = self._main()
        if screen is not None:
            await screen.mount(banner)
        frames = self._frame_timer
        if frames is not None:
            # Half a journal is not worth drawing: the desk waits (the banner has its
            # own timer) and the replay gets the time (a third of it went to frames).
            frames.pause()
            self.run_worker(self._frames_after_replay(frames), group="boot")
        try:
            await self.session.start()
        except Exception as exc:
            log.exception("app.start_failed")
            banner.poll()
            self.notify(
                # (an error's own text may end its sentence: one full stop, not two)
                f"{str(exc).rstrip('.')}. Orders are refused; quit "
                f"({named_key(self, 'app.quit')}) and start "
                "again once it is fixed.",
                title="Start-up failed",
                severity="error",
                timeout=120.0,
            )
            return False
        banner.done()
        if screen is not None:
            # Instruments are known once the brokers are connected.
            screen.watchlist.set_instruments(self.desk.view.all_instruments())
        return True

    async def _frames_after_replay(self, frames: Timer) -> None:
        await self.session.progress.replayed.wait()
        frames.resume()

    async def _read_feed(self) -> None:
        """Tail the session feed and every broker's market data into the model.

        The log starts from the recent past (`FEED_BACKLOG` entries of each stream),
        not from the journal's first entry."""
        session = self.session
        self._fed = set(session.accounts())
        await self._read_streams(session.feed_streams(), session.market_feed_streams(), first=True)

    async def _read_streams(
        self, feed: Mapping[str, str], market: Mapping[str, str], *, first: bool = False
    ) -> None:
        """`_read_feed` of `feed` (the log's streams) and `market` (quotes, from where
        the session says: `Session.market_feed_streams`)."""
        session = self.session
        model = self.model
        ingest = model.ingest_batch
        try:
            streams = dict(feed)
            for stream in streams:
                newest = await session.feed_backlog(stream, FEED_BACKLOG + 1)
                streams[stream] = recent_start(newest, FEED_BACKLOG)
            for md, start in market.items():
                # `$` from the entry that is last now, resolved here rather than inside
                # the reader: whatever is published after `feed_ready` is seen. Quotes
                # after it are read live, timed as they arrive (`FeedModel.live_after`).
                end = await session.stream_end(md)
                streams[md] = end if start == "$" else start
                model.live_after[md] = end
            if first:
                self.feed_ready.set()
                self._feed_more()  # accounts taken on while these streams were looked up
            async for batch in session.bus.tail_batches(streams):
                ingest(batch)
                if model.dirty_quotes:
                    self.quotes_arrived()
                # A backlog is taken a batch at a time, each quote conflated to the
                # latest: key presses and frames get the loop between two batches.
                await asyncio.sleep(0)
        except Exception as exc:
            # The reader reconnects by itself and an entry that fails is skipped
            # (`FeedModel._not_shown`): this is a fault of this desk, and said so.
            log.exception("app.feed_stopped")
            self.notify(
                f"{type(exc).__name__}: {exc}. Quotes, the Log and Health no longer move "
                "on this desk; quit and start it again.",
                title="Desk feed stopped",
                severity="error",
                timeout=3600.0,
            )

    def _main(self, *, filled: bool = True) -> MainScreen | None:
        """The desk's screen; with `filled`, only once its panes are there."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen if screen.drawable or not filled else None
        return None

    # -- the frame ------------------------------------------------------------------------

    def quotes_arrived(self) -> None:
        """Quotes were read: the screen draws them at its next update, not at the next
        frame (see `MainScreen.quotes_arrived`)."""
        screen = self._main()
        if screen is None or self._exit or screen._closing or screen._closed:
            return
        try:
            screen.quotes_arrived()
        except NoMatches:  # the screen is being torn down (the app is exiting)
            return

    def frame(self) -> None:
        """Draw what changed since the last frame. Never awaits."""
        screen = self._main()
        if screen is None or self._exit or screen._closing or screen._closed:
            return
        self.frames += 1
        self.model.rates.tick(self.desk.clock())
        self._check_bus()
        self._check_health_key()
        self._check_claims()
        self._check_alerts()
        self._check_kill_toasts()
        self._check_rebuild(screen)
        try:
            screen.draw()
        except NoMatches:  # the screen is being torn down (the app is exiting)
            return
        top = self.screen
        if top is not screen and isinstance(top, Dialog) and top.is_mounted:
            # (Pushed, a dialog is the top screen before its widgets are: a frame then
            # met `NoMatches` in the quit dialog's follow and the app crashed.)
            top.follow_desk()
        for notice in self.model.take_notices():
            message = shown(cut(notice.message), lines=True)
            if notice.title == ERROR_TITLE:
                key = said_key(notice.message)
                if key in self._alerts_said:
                    continue  # the session's alert said it, under its title
                _keep(self._errors_toasted, key, message)
            super().notify(  # from a bus event: its line is in the log already
                message,
                title=shown(cut(notice.title, 200)),
                severity=notice.severity,  # type: ignore[arg-type]
                timeout=self.desk.toast_timeout_s,
                markup=False,  # a venue's words (see `notify`)
            )
        if self.on_frame is not None:
            self.on_frame(self)
        if gc.get_count()[0] >= GC_YOUNG_AFTER_FRAME:
            self.call_after_refresh(collect_after_frame)

    def _check_bus(self) -> None:
        """A toast the moment this desk loses the bus (`BusWatch`): the bus's own health
        event saying so waits in memory with the rest, and so would the desk's news of
        any order sent meanwhile."""
        stats = self.desk.session.bus.stats
        was_lost = self.desk.bus_watch.lost
        newly_lost = self.desk.bus_watch.update(stats.connected)
        self._follow_kill_note()
        if not newly_lost:
            if was_lost and not self.desk.bus_watch.lost:
                screen = self._main()
                if screen is not None and not self.desk.watching:
                    screen.ticket.run_check()  # its status said BUS DOWN: not any more
            return
        if self.desk.watching:
            # It sends no order and writes nothing of its own: what it misses is
            # what the desks it watches do meanwhile, read once the bus is back.
            what = (
                "This desk only watches: nothing new shows until the bus is back, "
                "then what the desks did meanwhile; its kill switch, resume and "
                "reduce-only reach no desk until then."
            )
        else:
            what = self._bus_lost_text()
        self.notify(
            f"{stats.last_error.rstrip('.') or 'no answer'}. {what}",
            # Redis answering but taking no write is no network fault: said so.
            title="Bus refusing writes" if stats.writes_refused else "Bus unreachable",
            severity="error",
            timeout=self.desk.toast_timeout_s,
        )

    def _bus_lost_text(self) -> str:
        """What a trading desk does without its bus: orders go until its claims on its
        brokers lapse (half their ttl unrenewed), then every new one is refused; what
        already works keeps its reports in memory."""
        session = self.desk.session
        kept = (
            "the fills and reports of what already works wait in memory and show on the "
            "desk when the bus is back"
        )
        if not session.claims.brokers:
            return f"Orders go; {kept}."
        lapse = session.claims.ttl_ms / 2000  # (half the ttl unrenewed: lapsed)
        return (
            f"New orders are refused within {lapse:g} s (this desk's claims on its brokers "
            f"lapse unrenewed); {kept}."
        )

    def _set_kill_note(self, note: str) -> None:
        """What the header says of a watching desk's kill switch (`DeskHeader.note`)."""
        self._kill_note = note
        self._kill_note_since = self.desk.clock()
        screen = self._main()
        if screen is not None:
            screen.query_one(DeskHeader).set_note(note)

    def _check_kill_toasts(self) -> None:
        """Once trading leaves HALTED (a resume or REDUCE ONLY, from this desk or
        another), the kill switch's toasts go (`dismiss_kill_toasts`): they say HALTED,
        or what the kill left working, and one that failed in part stayed 60 s over a
        header that read ACTIVE. Other toasts stay."""
        halted = self.desk.view.trading_state is TradingState.HALTED
        if (self._halted and not halted) or self.model.kill_confirmed:
            # (also once a kill's unknown outcome is confirmed: `_cancels_followed`;
            # before the frame's new toasts, so its own confirmation stays)
            dismiss_kill_toasts(self)
            self.model.kill_confirmed = False
        self._halted = halted

    def _follow_kill_note(self) -> None:
        """A watching desk's kill switch no desk holds stays said in the header while
        its bus is down and `KILL_NOTE_S` after, until the desks' state is HALTED (a
        kill from elsewhere, or one whose answer was lost landed) or the trader pulls
        it again."""
        note = self._kill_note
        if not note or note == KILL_SENDING:
            return
        now = self.desk.clock()
        if self.desk.bus_watch.lost:
            self._kill_note_since = now
        elif (
            self.desk.view.trading_state is TradingState.HALTED
            or now - self._kill_note_since > KILL_NOTE_S
        ):
            self._set_kill_note("")

    def _check_health_key(self) -> None:
        """A toast when this desk's bus sets aside the health stream itself (its key
        holds another type): the bus's health message saying so cannot be written
        there, and no broker's or the bus's state reaches the Health pane until it is a
        stream again."""
        bus = self.desk.session.bus
        key = bus.layout.health
        aside = f"{key} (a " in bus.stats.unreadable
        if aside == self._health_key_aside:
            return
        self._health_key_aside = aside
        if aside:
            self.notify(
                f"{key} holds another type than a stream: no change of a broker's or the "
                "bus's state reaches this desk (Health shows what it last read). Delete "
                f"it (DEL {key}) and it is read again.",
                title="Health stream unreadable",
                severity="error",
                timeout=self.desk.toast_timeout_s,
            )

    def _check_claims(self) -> None:
        """A toast when this desk stops sending because its claims on its brokers went
        unrenewed for their ttl (engine/claims.py: Redis refusing or out of reach), and
        one when they are renewed. No event can say it: the bus is what failed. The
        lapse's reason is read as it stands at this frame (`Session.refresh_lapse`: a
        bus back since the keeper told it is said back, not unreachable), and "orders
        go again" only while trading is ACTIVE."""
        session = self.desk.session
        self._check_claims_freed()
        lapsed = session.claims_lapsed
        if lapsed:
            session.refresh_lapse()
        if lapsed == self._claims_lapsed:
            return
        self._claims_lapsed = lapsed
        if not lapsed and session.not_ready:
            return  # not renewed but lost (said by the broker's health), or starting
        if lapsed:
            self.notify(
                f"{session.not_ready}.",
                title="Claims not renewed",
                severity="error",
                timeout=self.desk.toast_timeout_s,
            )
            return
        state = self.desk.view.trading_state
        renewed = "This desk's claims on its brokers are renewed"
        resume = named_key(self, "app.resume")
        if state is TradingState.ACTIVE:
            said = f"{renewed}: orders go again."
        elif state is TradingState.HALTED:
            said = f"{renewed}; trading stays HALTED: resume with {resume}."
        else:
            said = (
                f"{renewed}; trading stays {state_words(state)}: orders that only reduce a "
                f"position go again (resume with {resume} for the rest)."
            )
        self.notify(said, title="Claims renewed", timeout=self.desk.toast_timeout_s)

    def _check_claims_freed(self) -> None:
        """A toast, once per broker, when the desk that took a broker from this one is
        known to have gone (engine/claims.py `ClaimConflict.left`: it quit, or its
        process is gone): the broker's claim is free as far as this desk knows, and a
        restart of this desk takes it back (this desk never takes it back while it
        runs). The Health pane says it for as long as it holds."""
        lost = self.desk.session.claims.lost
        if not lost:
            return
        for broker, conflict in sorted(lost.items()):
            if not conflict.left or broker in self._claims_freed:
                continue
            self._claims_freed.add(broker)
            self.notify(
                f"{conflict.taker_name()}, which took broker {broker} from this desk, "
                f"{conflict.left}: the claim on it is free as far as this desk knows. "
                "This desk sends it nothing while it runs: restart this desk to take the "
                "broker back (a desk started since that holds it refuses the restart, "
                "naming itself).",
                title=f"Claim on {broker} free",
                severity="warning",
                timeout=self.desk.toast_timeout_s,
            )

    def _driven_elsewhere(self) -> list[DrivenElsewhere]:
        """This desk's brokers another desk drives now (their claims lost): a cancel all
        sends them nothing (engine/commands.py `driven_elsewhere_of`)."""
        from ..engine.commands import driven_elsewhere_of

        return driven_elsewhere_of(self.desk.session.claims)

    def _not_cancelled_here(self) -> str:
        """The working orders a cancel all leaves to the desks that drive their brokers
        now, in words ("" when none: `not_cancelled_here`)."""
        lost = self._driven_elsewhere()
        return not_cancelled_here(self.desk.view, lost) if lost else ""

    def _check_rebuild(self, screen: MainScreen) -> None:
        """A watching desk rebuilding what it shows (Redis lost the journal:
        engine/watch.py `WatchSession.rebuild`) has a new `progress`: the start-up
        banner shows it over the desk, as at the start, until it is ready (a rebuild
        that failed leaves it, saying so; one that starts over takes it on)."""
        progress = self.session.progress
        shown = self._progress_shown
        if shown is None:
            return  # the start's own banner (`_start_session`)
        banner = self._rebuild_banner
        if progress is not shown:
            self._progress_shown = progress
            if banner is not None:
                banner.progress = progress
            elif not progress.ready:
                banner = StartupBanner(
                    progress,
                    id="rebuild",
                    title="rebuilding",
                    watching=self.desk.view if self.session.watching else None,
                )
                self._rebuild_banner = banner
                screen.mount(banner)
        if banner is not None and progress.ready and banner.is_mounted:
            banner.done()
            self._rebuild_banner = None

    def _check_alerts(self) -> None:
        """The session's alerts, toasted under their titles. An alert whose words the
        engine journaled too, as an ERROR line (Redis lost the journal while no desk
        ran: engine/last_run.py logs it, the session alerts it), is one toast, the
        alert's: the line's own toast, titled only "Error", goes (or never shows) and
        no second Log line is added. The trader saw "Error" over the titled one."""
        alerts = self.desk.session.alerts
        while alerts:
            alert = alerts.pop(0)
            # One that says a toast on screen is no longer so takes it down
            # (`dismiss_answered`: a broker heard from again, its "not heard from").
            dismiss_answered(self, alert.title)
            error = alert.severity == "error"
            key = said_key(alert.message)
            _keep(self._alerts_said, key, None)
            journaled = alert.journaled or key in self._errors_toasted
            toasted = self._errors_toasted.get(key)
            if toasted is not None:
                # (Later: that toast's own message is taken in first.)
                self.call_later(dismiss_saying, self, ERROR_TITLE, toasted)
            self.notify(
                alert.message,
                title=alert.title,
                severity=alert.severity,  # type: ignore[arg-type]
                timeout=60.0 if error else self.desk.toast_timeout_s,
                log_line=not journaled,  # one Log line
            )

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, but on Linux and macOS the one whose writes never block on a
        terminal that is gone, and which says so (`terminal_gone.TerminalDriver`)."""
        driver_class = super().get_driver_class()
        if sys.platform == "win32":
            return driver_class
        from .terminal_gone import replace_driver

        return replace_driver(driver_class)

    async def on_event(self, event: events.Event) -> None:
        if self._quitting is not None and isinstance(event, events.InputEvent | events.Paste):
            return  # `quit_now`: the session is closing; nothing more is asked of it
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        if self.key_order.hold(event):  # the key before it is still on its way
            return
        target = self.focused or self.screen
        if await self._bound_key(target, event):
            draw_now(self.screen)
        else:
            await super().on_event(event)
        self.key_order.sent(target)

    async def _bound_key(self, target: object, event: events.Key) -> bool:
        """A key pressed on one of the desk's tables, run by its binding here and now.

        Textual hands a key to the focused widget's queue, and from there it climbs,
        queue by queue, back to the app, which only then runs the binding (`b` opens
        the ticket): each hop waits behind whatever else the loop has ready. A table
        and the panes and screen around it handle no key themselves (only Textual's
        screen has `_key_escape`, left to Textual's way), so the binding the key would
        reach is the one found now, from the focus up; a key no binding takes goes
        Textual's way."""
        if not isinstance(target, LineTable) or event.key == "escape":
            return False
        self.app_focus = True
        if await self._check_bindings(event.key, priority=True):
            return True
        return await self._check_bindings(event.key)

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit" and self.screen.id == QUIT_DIALOG_ID:
            return False  # the quit dialog is the answer: not run, not on its bar
        return not (action in _MAIN_ONLY and not isinstance(self.screen, MainScreen))

    def _session_yet(self) -> bool:
        """For the actions that reach the engine: whether the session is there (a
        moment after the first frame: `silvertine run` builds it then). Their keys show
        from the first frame; pressed before it, they say so."""
        if not self.has_session:
            self.notify("the desk is starting; try again in a moment", timeout=2)
        return self.has_session

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self._keymap))

    def action_show_pane(self, name: str) -> None:
        screen = self._main()
        if screen is not None and name in dict(PANES):
            screen.show_pane(name)

    def action_focus_pane(self, name: str) -> None:
        self.action_show_pane(name)

    def action_zoom(self) -> None:
        screen = self._main()
        if screen is not None:
            screen.toggle_zoom()

    def action_next_pane(self) -> None:
        screen = self._main()
        if screen is not None:
            screen.next_pane()

    def action_buy(self) -> None:
        from ..domain import Side

        screen = self._main()
        if screen is not None:
            screen.prefill_from_quote(Side.BUY)

    def action_sell(self) -> None:
        from ..domain import Side

        screen = self._main()
        if screen is not None:
            screen.prefill_from_quote(Side.SELL)

    def knows_order(self, client_order_id: str) -> bool:
        """Whether this desk holds the order or can read it back from its journal."""
        if not self.has_session:
            return False
        view = self.desk.view
        return (
            view.order(client_order_id) is not None
            or view.history_span(client_order_id) is not None
        )

    def open_order_history(self, client_order_id: str) -> None:
        """The order's history by its id: from memory, or for an order that left it
        (the finished-orders window), rebuilt from the journal."""
        from .screens.history import OrderHistoryScreen

        desk = self.desk
        view = desk.view.order(client_order_id)
        if view is not None:
            instrument = desk.view.instrument(view.broker, view.order.request.instrument)
            loader = desk.history_loader(client_order_id)
            self.push_screen(
                OrderHistoryScreen(
                    view,
                    instrument,
                    loader,
                    lookup=desk.view.order,
                    unjournaled=desk.unjournaled_of,
                )
            )
            return

        async def load() -> None:
            # An evicted order's span in the journal is known: one short read.
            self.notify(
                f"reading order {client_order_id} back from the journal",
                title="Order history",
                timeout=2,
            )
            try:
                found = await desk.order_from_journal(client_order_id)
            except Exception as exc:
                self.notify(
                    f"could not read order {client_order_id} from the journal "
                    f"({type(exc).__name__}: {exc})",
                    title="Order history",
                    severity="error",
                )
                return
            if found is None:
                self.notify(
                    f"the journal holds no events for order {client_order_id} any more "
                    "(trimmed by its retention, or another journal)",
                    title="Order history",
                    severity="warning",
                )
                return
            instrument = desk.view.instrument(found.broker, found.order.request.instrument)
            self.push_screen(OrderHistoryScreen(found, instrument, lookup=desk.view.order))

        self.run_worker(load(), group="history", exit_on_error=False)

    def choose_account(self, account: str) -> None:
        screen = self._main()
        if screen is not None:
            screen.ticket.prefill(
                instrument=screen.ticket.draft().instrument,
                side=screen.ticket.draft().side,
                account=account,
            )
            screen.show_pane("ticket")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
        log_line: bool = True,
    ) -> None:
        """A toast, and the Log pane's line of it (not when `log_line` is False: what
        it says is journaled, and its line comes from there): a toast is cut to its box (one line
        at one pane at a time, nine rows in the grid: `DeskToast`, ending `… more in
        Log (7)`; a kill switch's report of the orders still working, and why, was cut
        after its first line), and every toast expires. An untitled note (`theme ...`,
        `trading is already ACTIVE`) is only a toast.

        Every toast is plain text, whatever `markup` says (`Widget.notify` passes True):
        what a toast says is often a venue's or a library's words, and as markup
        `Filter failure: [PRICE_FILTER]` lost its filter's name and a `[/...]` in an
        error stopped the app.

        A toast given no time lasts the desk's (`toast_timeout_s`), not Textual's 5 s:
        the ticket's `Order not placed` went before the desk's other toasts did."""
        if timeout is None:
            timeout = self._toast_timeout_s
        whole = message
        message, title = (
            shown(cut(message, where="the Log pane"), lines=True),
            toast_title(title),
        )
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)
        if log_line and (title or severity != "information") and self.has_session:
            said = f"{title}: {whole}" if title else whole
            self.model.note(int(self.desk.clock() * 1000), said, severity)

    def _refresh_notifications(self) -> None:
        """Textual's, showing the desk's toasts (`DeskToast`, `show_toasts`): every
        toast, `notify`'s and those shown with Textual's own (a bus event's, a
        journaled alert's), is cut to its box with a pointer to the Log pane."""
        try:
            rack = self.screen.get_child_by_type(ToastRack)
        except (ScreenStackError, NoMatches):
            return  # no screen, or one with no toasts: they show on the next
        self.call_later(show_toasts, rack, self._notifications)

    def _run_engine(self, what: str, command: Command) -> None:
        """Send a command through the gateway; a failure, and what a cancel-all or kill
        did, are shown as toasts (an error toast while any order is still working),
        titled by what failed first (`KillReport.headline`: at 80 columns the title is
        what shows whole). A watching desk's kill switch is said in the header while
        it is written and when no desk holds it (`_set_kill_note`)."""
        watched_kill = isinstance(command, Kill) and self.desk.watching
        if watched_kill:
            self._set_kill_note(KILL_SENDING)

        def slow() -> None:
            if not watched_kill:
                self._still_going(what)
                return
            self.notify(
                "Redis has not answered the KILL yet: no desk holds it until it does "
                f"(the header says {KILL_SENDING}).",
                title=f"{what}: still sending",
                severity="warning",
                timeout=self.desk.toast_timeout_s,
            )

        async def run() -> None:
            earlier = kill_toasts(self) if isinstance(command, Kill) else []
            waiting = self.set_timer(self.desk.slow_command_s, slow)
            try:
                # A cancel all's (reduce only's) report says its cancels made while the
                # bus is lost (`_sent_while_down`): one toast, not the desk's too.
                outcome = await self.desk.send(
                    command, say_sent=not isinstance(command, CancelAll | SetTradingState)
                )
            finally:
                waiting.stop()
            match outcome:
                case Failed():
                    title = f"{what}: KILL NOT SENT" if watched_kill else f"{what} failed"
                    if watched_kill:
                        self._set_kill_note("KILL NOT SENT")
                    self.notify(outcome.error, title=title, severity="error")
                case Refused():
                    self.notify(outcome.reason, title=f"{what} refused", severity="error")
                case CancelAllDone(report=report) | KillDone(report=report):
                    if watched_kill and isinstance(outcome, KillDone):
                        kill = outcome.report
                        unsent = "KILL UNSURE" if kill.maybe_sent else "KILL NOT SENT"
                        self._set_kill_note("" if kill.ok else unsent)
                    if isinstance(outcome, KillDone) and report.ok and earlier:
                        dismiss_kill_toasts(self, earlier)  # an earlier kill's, not this one's
                    headline = report.headline()
                    summary = report.summary()
                    severity: SeverityLevel = "information" if report.ok else "error"
                    # A watching desk's KILL journaled: a driving desk not heard from
                    # (STALE) cancels nothing until it comes back and reads it. Said
                    # first: the toast shows its first lines whole.
                    unheard = self._kill_not_heard() if watched_kill and report.ok else ""
                    if unheard:
                        summary = f"{unheard} {summary}"
                        headline = headline or self._not_heard_headline()
                        severity = "warning"
                    elif isinstance(outcome, CancelAllDone) and (
                        down := self._sent_while_down(report.cancelled)
                    ):
                        summary = f"{summary} {down}"
                        headline = headline or "NOT JOURNALED YET"
                        severity = "warning" if report.ok else severity
                    self.notify(
                        summary,
                        title=f"{what}: {headline}" if headline else what,
                        severity=severity,
                        timeout=self.desk.toast_timeout_s if severity == "information" else 60.0,
                        # The report journaled (a log entry naming this desk): the Log's
                        # line comes from there, after a restart and on a watcher too.
                        log_line=not outcome.journaled,
                    )
                case _ if watched_kill:
                    self._set_kill_note("")

        self.run_worker(run(), group="engine", exit_on_error=False)

    def _sent_while_down(self, cancelled: Sequence[str]) -> str:
        """What a cancel all's (a reduce only's) toast adds of its orders cancelled
        while the bus is lost ("" when it is not, or none was): the venue cancelled
        them, the journal shows it once the bus is back, and Orders marks them
        meanwhile. Two toasts said it side by side, "cancel all: cancelled 3 order(s)"
        and "Cancel all sent ... shown when the bus is back"."""
        if not cancelled or not self.desk.bus_watch.lost:
            return ""
        return (
            "BUS DOWN: the cancels were made at the venue, not journaled yet: shown when "
            "the bus is back (Orders marks them cxl… until then)."
        )

    def _still_going(self, what: str) -> None:
        """A command still waiting on the venues (one slow to answer, or not answering:
        a hung venue holds a cancel for its timeout and retries) says so, so the trader
        does not take the silence for a kill switch that did nothing or is done. The
        orders of a broker another desk drives now (this desk lost its claim on it) are
        not waited for: this desk cancels none of them, and the report says so. When
        they are all that is working, nothing is said here (a toast "still going ...
        2 order(s) still working (paper/main)" waited for nothing this desk can do)."""
        away = {d.broker for d in self._driven_elsewhere()}
        every = self.desk.view.working()
        working = [o for o in every if o.broker not in away]
        if away and every and not working:
            return
        where = ", ".join(sorted({f"{o.broker}/{o.account}" for o in working}))
        left = f"{len(working)} order(s) still working ({where})" if working else "no order working"
        not_here = len(every) - len(working)
        also = (
            f" {not_here} order(s) of brokers another desk drives now are NOT cancelled by "
            "this desk (the report names them)."
            if not_here
            else ""
        )
        self.notify(
            f"Waiting for the venues to answer: {left}. The report follows when they do." + also,
            title=f"{what}: still going",
            severity="warning",
            timeout=self.desk.toast_timeout_s,
        )

    def action_cancel_all(self) -> None:
        if not self._session_yet():
            return
        if self.desk.watching:  # before the dialog: a watching desk cancels nothing
            self.notify(
                f"{self.desk.session.not_ready}.", title="Cancel all refused", severity="error"
            )
            return
        working = self.desk.view.working_count()

        def answer(ok: bool | None) -> None:
            if ok:
                self._run_engine("cancel all", CancelAll())

        # The orders of a broker another desk drives now (this desk lost its claim on
        # it) are not cancelled from here: the body counts the others, and the note
        # (followed while the dialog is open) names those and says why.
        lost = self._driven_elsewhere()
        elsewhere = not_cancelled_count(self.desk.view, lost) if lost else 0
        body = f"{working} working order(s) on every broker will be cancelled."
        if elsewhere:
            body = (
                f"{working - elsewhere} of the {working} working order(s) will be cancelled: "
                "those of the brokers this desk drives."
            )
        self.push_screen(
            ConfirmScreen(
                "Cancel all working orders?",
                body,
                confirm_label="Cancel all",
                danger=True,
                note=self._not_cancelled_here,
            ),
            callback=answer,
        )

    def action_kill(self) -> None:
        if not self._session_yet():
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.id == "kill":
            return

        def answer(ok: bool | None) -> None:
            if ok:
                self._run_engine("kill switch", Kill(reason="kill switch (UI)"))

        dialog = ConfirmScreen(
            "KILL SWITCH",
            "Cancel every working order on every broker and HALT trading.\n"
            f"New orders are refused until you resume ({named_key(self, 'app.resume')}).",
            confirm_label="KILL",
            danger=True,
            note=self._kill_note_now,
        )
        dialog.id = "kill"
        self.push_screen(dialog, callback=answer)

    def _kill_note_now(self) -> str:
        """What the kill dialog says before the answer, and follows while open: the bus
        down (`_kill_without_bus`), else the driving desks not heard from
        (`_kill_not_heard`); and the working orders of the brokers another desk drives
        now, which this desk cannot cancel (`_not_cancelled_here`)."""
        said = self._kill_without_bus() or self._kill_not_heard()
        if not self.desk.watching and (not_here := self._not_cancelled_here()):
            said = f"{said}\n{not_here}" if said else not_here
        return said

    def _kill_not_heard(self) -> str:
        """The brokers whose driving desk this desk does not hear (STALE: a watching
        desk's), and that their orders are cancelled only once that desk reads the KILL
        (`kill_not_heard`); "" when it hears every one, or cannot read the bus (then no
        desk is judged, and the bus is what is said)."""
        if self.desk.bus_watch.lost:
            return ""
        return kill_not_heard(self.desk.view, self.desk.session.accounts(), self.desk.clock())

    def _not_heard_headline(self) -> str:
        """The kill toast's title words when a driving desk is not heard from (at 80
        columns the title is what shows whole): "paper/main NOT HEARD FROM", or how many."""
        which = not_heard(self.desk.view, self.desk.session.accounts(), self.desk.clock())
        if len(which) == 1:
            return f"{which[0].partition(' (')[0]} NOT HEARD FROM"
        return f"{len(which)} brokers NOT HEARD FROM"

    def _kill_without_bus(self) -> str:
        """What the kill switch does while this desk cannot reach the bus ("" while it
        can): the kill dialog says it before the answer, and follows the bus while
        open."""
        if not self.desk.bus_watch.lost:
            return ""
        if self.desk.watching:
            return (
                "The bus is DOWN: a kill pulled here reaches no desk. It is refused, not "
                "kept to be sent later: pull it on the desk that drives the brokers, or "
                "here again once the bus is back."
            )
        return (
            "The bus is DOWN: this desk cancels its orders at its own venues and HALTS "
            "here now; the KILL reaches the journal, and the other desks, only once the "
            "bus is back."
        )

    def action_resume(self) -> None:
        if not self._session_yet():
            return
        state = self.desk.view.trading_state
        if state is TradingState.ACTIVE:
            self.notify("trading is already ACTIVE", timeout=2)
            return

        def answer(ok: bool | None) -> None:
            if ok:
                self._run_engine("resume", Resume(leaving=state))

        self.push_screen(
            ConfirmScreen(
                "Resume trading?",
                f"Trading is {state_words(state)}. Resume sets it ACTIVE: orders are accepted "
                "again.",
                confirm_label="Resume",
                moved=self._state_moved(state),
            ),
            callback=answer,
        )

    def _state_moved(self, asked: TradingState) -> Callable[[], str | None]:
        """For a dialog that asks to leave `asked`: what the trading state is now, once
        it is another (another desk's kill switch while the dialog is open)."""

        def moved() -> str | None:
            now = self.desk.view.trading_state
            return None if now is asked else f"trading is {state_words(now)} meanwhile"

        return moved

    def action_reduce_only(self) -> None:
        """REDUCE ONLY cancels the working orders that would add to a position: asked
        first when there are any, as cancel-all and the kill switch are (it went at once
        from the palette, and the orders with it). Leaving HALTED is always asked."""
        if not self._session_yet():
            return
        view = self.desk.view
        state = view.trading_state
        if state is TradingState.REDUCE_ONLY:
            self.notify("trading is already REDUCE ONLY", timeout=2)
            return

        def go() -> None:
            command = SetTradingState(state=TradingState.REDUCE_ONLY, leaving=state)
            self._run_engine("reduce only", command)

        working = view.working()
        adding = sum(
            adds_to_position(
                view.position(o.broker, o.account, o.order.request.instrument),
                o.order.request.side,
            )
            for o in working
        )
        if state is not TradingState.HALTED and not adding:
            go()  # nothing is cancelled: it only refuses orders
            return
        lines = []
        if state is TradingState.HALTED:
            # Leaving HALTED is a resume, whatever it resumes to: never without asking.
            title = "Leave HALTED for REDUCE ONLY?"
            lines.append("The kill switch is on. REDUCE ONLY accepts orders again, if they only")
            lines.append("reduce a position.")
        else:
            title = "Enter REDUCE ONLY?"
            lines.append("New orders are refused unless they reduce a position.")
        if adding:
            lines.append(f"{adding} working order(s) that would add to a position are cancelled.")
        if adding < len(working):
            lines.append(f"{len(working) - adding} that reduce one stay working.")
        self.push_screen(
            ConfirmScreen(
                title,
                "\n".join(lines),
                confirm_label="Reduce only",
                danger=bool(adding),
                moved=self._state_moved(state),
            ),
            callback=lambda ok: go() if ok else None,
        )

    async def action_quit(self) -> None:
        """q / ctrl+c: at once when nothing is working and the journal has everything;
        else ask (see QuitScreen): orders working, or events the bus holds in memory,
        not written to Redis yet (Redis out of reach; they are lost from the journal
        if the bus cannot write them as it closes). In the quit dialog itself
        `check_action` refuses it: the dialog is the answer, a second q or ctrl+c never
        skips it."""
        if not self.has_session:  # nothing can be working yet
            await self._shut_down()
            return
        unwritten = self.session.bus.unwritten
        if self.desk.watching or not (self.desk.view.working_count() or unwritten()[0]):
            # A watching desk's working orders are the driving desks': they stay theirs
            # (and it writes nothing to the journal).
            await self._shut_down()
            return

        async def answer(choice: QuitChoice | None) -> None:
            if choice is QuitChoice.LEAVE:
                # The trader's explicit choice beats `engine.cancel_on_exit`: the
                # dialog said they stay working, so they do.
                self.session.leave_working_on_close()
            if choice in (QuitChoice.QUIT, QuitChoice.LEAVE):
                await self._shut_down()

        session = self.session

        def bus_down() -> str:
            """Why the cancels' outcome cannot be read: the desk has lost the bus."""
            return f"no connection to {session.bus_url}" if self.desk.bus_watch.lost else ""

        # A paper account on the memory bus lives in this process: its orders end
        # with the desk, none is left working at a broker.
        in_memory = session.settings.bus.url.startswith("memory:")
        ends_here = [b.name for b in session.settings.brokers if in_memory and b.type == "paper"]
        self.push_screen(
            QuitScreen(
                self.desk.view,
                self.desk.send,
                keymap=self._keymap,
                unwritten=unwritten,
                bus_down=bus_down,
                cancels_sent=self.desk.cancels_sent,
                ends_here=ends_here,
                not_cancelled=self._not_cancelled_here,
            ),
            callback=answer,
        )

    async def quit_now(self, reason: str) -> None:
        """Shut down as `q` does, without the quit dialog: a signal (SIGHUP: the
        terminal is gone; SIGTERM) or the terminal's writes failing (`TerminalGone`)
        leaves no one to ask. The session closes as its config says
        (`engine.cancel_on_exit`), first: before the app's own shutdown, which writes to
        the terminal (gone, maybe), and with the trader's keys and clicks dropped from
        here on (nothing new is sent while it cancels). Once: a second call (SIGHUP and
        the failed writes, a second signal) waits for the first's. Called by the CLI
        (cli.py, on a signal)."""
        await asyncio.shield(self._quit_started(reason))

    def on_terminal_gone(self, message: TerminalGone) -> None:
        """The terminal can no longer be written (`terminal_gone`): no one sees the desk
        or can quit it. It shuts down as on SIGHUP, which its terminal sends it only if
        it is the terminal's controlling process."""
        self._quit_started(message.reason)

    def _quit_started(self, reason: str) -> asyncio.Task[None]:
        if self._quitting is None:
            log.warning("app.quit_now", extra={"reason": reason})
            self._quitting = asyncio.get_running_loop().create_task(
                self._quit_closing_first(), name="quit-now"
            )
        return self._quitting

    async def _quit_closing_first(self) -> None:
        try:
            await self._shut_down(close=True)
        except Exception:  # the app has exited all the same
            log.exception("app.quit_now_failed")

    async def _shut_down(self, *, close: bool = False) -> None:
        """Close the session when this app owns it, or with `close` (`quit_now`) once it
        is ready (one still starting is closed by its owner once the app, and with it
        the start, is gone: cli.py); then exit, whatever the close raised."""
        if self.has_session:
            self.desk.bus_watch.closing = True  # the bus closing now is not the bus lost
        try:
            if self.owns_session or (close and self.has_session and self.session.ready):
                await self.session.close()
        finally:
            self.exit()
