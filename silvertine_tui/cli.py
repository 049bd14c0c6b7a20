"""`silvertine` entry point: run (default), watch, replay, config."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import heapq
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__

if TYPE_CHECKING:
    from .brokers import BrokerRegistry
    from .bus import BusEntry, EventBus
    from .config import ConfigError, Settings
    from .engine import Session
    from .ui.themes import LoadedThemes

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_BUS = 3
EXIT_CLAIMED = 4  # another desk on the bus drives one of this desk's brokers
EXIT_ORDERS_LEFT = 5
"""The desk closed with orders still working that `engine.cancel_on_exit` was to
cancel (said on stderr: which, and where to cancel them)."""
EXIT_CRASHED = 6
"""The desk's UI crashed (a bug: an exception no handler caught). Its traceback is in
the log; stderr has one line saying so and where the log is (Textual's own report,
which printed the locals of every frame, is not shown). The session was closed as on
`q`: `engine.cancel_on_exit` applied, the final snapshot written."""
EXIT_NOT_JOURNALED = 7
"""The desk closed while Redis was down (or had not caught up) with execution events
(fills, order updates) still in the bus's outage buffer: they were not journaled and
went with the process (said on stderr: how many, and what to do; each is in the log,
`bus.redis.unwritten_at_close`). Orders left working (EXIT_ORDERS_LEFT) win: both are
said, the exit code is theirs."""

STOP_SIGNALS = ("SIGHUP", "SIGTERM")
"""Signals that shut the desk down as `q` does, without the quit dialog: SIGHUP (the
terminal is gone: an SSH session dropped) and SIGTERM (`kill`, `systemctl stop`).
Textual handles neither; their default ended the process with no shutdown at all."""

CORE_BROKER_TYPES = frozenset({"paper"})
"""Broker types whose adapter is part of this package and needs no other library: it
loads whenever `silvertine` does. On a desk built behind its first frame (`_run`) it is
imported after that frame, not checked before it."""

COMMANDS = ("run", "watch", "replay", "config")


def watch_log_file(desk_log: Path) -> Path:
    """`silvertine watch`'s log: beside the desk's (`log.file`, set or default), its
    name with `-watch` (silvertine.log -> silvertine-watch.log). A desk on this host
    writes and rotates its own file; a watcher run with the same config wrote and rotated
    that one too, two processes interleaving one file."""
    return desk_log.with_name(f"{desk_log.stem}-watch{desk_log.suffix}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="silvertine",
        description="Silvertine: a terminal trading workstation. "
        "With no arguments it runs on the built-in paper broker and an in-memory bus.",
    )
    parser.add_argument("--version", action="version", version=f"silvertine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="start the workstation (the default command)")
    _config_args(run)
    run.add_argument(
        "--theme", metavar="NAME", help="UI theme (a file in themes/); the choice is remembered"
    )
    run.add_argument(
        "--headless",
        action="store_true",
        help="run the session without the UI (events go to the log); stop with ctrl+c, SIGTERM "
        "or SIGHUP",
    )

    watch = sub.add_parser(
        "watch",
        help="watch the desks on a Redis bus: the whole desk, no trading",
        description="The desk of every desk on a Redis bus and prefix, drawn from its "
        "streams: orders, positions, balances, quotes, health and log. It drives no "
        "broker and sends no order; its kill switch, resume and reduce-only act on "
        "every desk. It writes nothing else, so a Redis user that may only read will do "
        "(the risk actions then fail, and say so).",
    )
    _config_args(watch)
    watch.add_argument(
        "--theme", metavar="NAME", help="UI theme (a file in themes/); the choice is remembered"
    )

    replay = sub.add_parser(
        "replay",
        help="print journaled events from a Redis bus",
        description="Print events from the bus's streams as a table or JSON lines.",
    )
    _config_args(replay)
    replay.add_argument(
        "--stream",
        metavar="NAME",
        action="append",
        help="stream to read, with or without the prefix (exec:paper:main); repeatable; "
        "default: every stream under the prefix",
    )
    replay.add_argument(
        "--since",
        metavar="ID",
        type=_entry_id,
        default="0-0",
        help="start after this entry id (MS-SEQ, or a time in ms since the epoch)",
    )
    replay.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    replay.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    replay.add_argument("--limit", type=_limit, metavar="N", help="stop after N events (1 or more)")

    check = sub.add_parser("config", help="validate the config and print it (secrets hidden)")
    _config_args(check)
    return parser


_MAX_ID_PART = 2**64 - 1


def _entry_id(text: str) -> str:
    """`--since`: a stream entry id (`1700000000000-3`) or a time in ms (`1700000000000`),
    refused here (exit 2) rather than by Redis in the middle of the replay."""
    ms, dash, seq = text.partition("-")
    parts = (ms, seq) if dash else (ms,)
    if not all(p.isascii() and p.isdigit() and int(p) <= _MAX_ID_PART for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an entry id: MS-SEQ (1700000000000-3) or a time in ms "
            "since the epoch (1700000000000)"
        )
    return text


def _limit(text: str) -> int:
    """`--limit`: a count of events, 1 or more (`--limit -1` printed nothing, exit 0)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of events to print: give 1 or more "
            "(without --limit every event is printed)"
        )
    return value


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="PATH",
        type=Path,
        help="YAML config (default: $SILVERTINE_CONFIG, else the built-in paper profile)",
    )
    parser.add_argument(
        "--bus", metavar="URL", help="bus URL: memory:// or redis://host:6379/0 (bus.url)"
    )
    parser.add_argument("--prefix", metavar="P", help="stream key prefix (bus.prefix)")


def _settings(args: argparse.Namespace) -> Settings:
    from .config import ConfigError, load_settings

    # Given is given: an empty `--bus ""` or `--prefix ""` is refused as the field
    # refuses it (it fell back to memory:// or the default prefix without a word).
    bus: dict[str, Any] = {}
    if getattr(args, "bus", None) is not None:
        bus["url"] = args.bus
    if getattr(args, "prefix", None) is not None:
        bus["prefix"] = args.prefix
    try:
        return load_settings(args.config, **({"bus": bus} if bus else {}))
    except ConfigError as err:
        options = {"bus.url": "--bus", "bus.prefix": "--prefix"}
        for field, option in options.items():
            if getattr(args, option[2:], None) is not None:
                err.problems = [
                    p.replace(f"{field}:", f"{field} ({option}):", 1)
                    if p.startswith(f"{field}:")
                    else p
                    for p in err.problems
                ]
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """`silvertine`. The cyclic garbage collector is paused from here until the desk's
    first frame is on screen (the app resumes it first thing after it: `SilvertineApp.
    _boot`), or, for every other command, until the config is loaded: start-up
    allocates a few hundred thousand objects that live as long as the process (modules,
    classes, pydantic's schemas, the session), which the collector's passes would scan
    again and again for nothing (about 0.03 s of the start's CPU, docs/architecture.md
    "Start-up"). The collector's state is restored on return."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    from .config import ConfigError, format_config_error

    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else ""
    if first not in (*COMMANDS, "-h", "--help", "--version"):
        args_list.insert(0, "run")
    args = build_parser().parse_args(args_list)
    try:
        settings = _settings(args)
    except ConfigError as err:
        print(format_config_error(err), file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "watch":
        settings = settings.model_copy(
            update={
                "log": settings.log.model_copy(update={"file": watch_log_file(settings.log.file)})
            }
        )
    if args.command in ("run", "watch", "config"):
        from .config import config_file
        from .logsetup import log_file_problem

        problem = log_file_problem(settings.log.file)
        if problem:
            error = ConfigError([problem], config_file(args.config))
            print(format_config_error(error), file=sys.stderr)
            return EXIT_CONFIG
    if args.command in ("run", "watch", "config") and not getattr(args, "headless", False):
        keymap_error = _keymap_error(settings, args.config)
        if keymap_error is not None:
            print(format_config_error(keymap_error), file=sys.stderr)
            return EXIT_CONFIG
    if args.command != "run" or args.headless:
        gc.enable()  # no first frame to wait for
    if args.command == "config":
        return _check_config(settings, args)
    if args.command == "replay":
        return _replay(settings, args)
    themes = None
    if args.command == "watch" or not args.headless:
        themes = _load_themes(settings, args)
        if themes is None:
            return EXIT_CONFIG
    if args.command == "watch":
        return _watch(settings, theme=args.theme, themes=themes)
    # The desk's first frame needs the settings alone. With the bus in this process
    # (memory://: nothing to reach) the session is built behind it (`_run`); a bus to
    # reach is opened first, so that an unreachable one is a message, not a desk.
    behind = not args.headless and settings.bus.url.startswith("memory://")
    skip = CORE_BROKER_TYPES if behind else frozenset()
    registry: BrokerRegistry | None = None
    if not behind or any(b.type not in skip for b in settings.enabled_brokers):
        from .brokers import BrokerRegistry

        registry = BrokerRegistry()
        problems = _unloadable_brokers(settings, registry, skip=skip)
        if problems:
            return _unloadable(problems)
    if args.headless:
        assert registry is not None
        return _headless(settings, registry)
    if behind:
        return _run(settings, registry, theme=args.theme, themes=themes)
    assert registry is not None
    from .engine import Session

    opened_registry = registry
    return _run_opened(
        settings,
        lambda: Session(settings, registry=opened_registry),
        theme=args.theme,
        themes=themes,
    )


def _keymap_error(settings: Settings, path: Path | None) -> ConfigError | None:
    """`ui.keymap` as a config error when it cannot be applied as written: an id no
    binding has (`app.nonexistent`), a key Textual never reports (`ctrl-k`: applied,
    the kill switch answered no key at all, its default's neither), two actions on one
    key where both answer at once (the ticket's fire key and cancel all on F12: F12 in
    the ticket opened "Cancel all"); checked for the commands that draw a desk, and by
    `config`. The key table is the UI's (ui/keymap.py), so the config's model cannot
    check it."""
    if not settings.ui.keymap:
        return None
    from .config import ConfigError, config_file
    from .ui.keymap import keymap_problems

    found = keymap_problems(settings.ui.keymap)
    if not found:
        return None
    return ConfigError(found, config_file(path))


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    """`silvertine config`: what `run` would refuse is refused here the same way (a
    broker type no adapter is registered for, an adapter that cannot be loaded, an
    unknown `ui.theme`), else the settings are printed with secrets hidden."""
    from .brokers import BrokerRegistry

    problems = _unloadable_brokers(settings, BrokerRegistry())
    themes = _load_themes(settings, args)
    if problems:
        _unloadable(problems)
    if problems or themes is None:
        return EXIT_CONFIG
    try:
        print(settings.model_dump_json(indent=2), flush=True)
    except BrokenPipeError:
        # Its reader is gone (`silvertine config | head`): what it wanted is printed.
        _stdout_gone()
    return EXIT_OK


def _load_themes(settings: Settings, args: argparse.Namespace) -> LoadedThemes | None:
    """The desk's themes, read once here for the app; None after saying on stderr which
    of `ui.theme` (when the config sets it) and `--theme` names none of them (exit 2).
    Themes come from files (docs/ui.md, Themes), the user's own directory included."""
    from .config import ConfigError, config_file, format_config_error
    from .ui.themes import asked_theme_problems, load_themes

    themes = load_themes()
    found = asked_theme_problems(
        getattr(args, "theme", None), settings.ui, themes, argument="--theme"
    )
    for field, problem in found:
        if field == "ui.theme":
            error = ConfigError([f"ui.theme: {problem}"], config_file(args.config))
            print(format_config_error(error), file=sys.stderr)
        else:
            print(f"silvertine: {field}: {problem}", file=sys.stderr)
    return None if found else themes


def _unloadable(problems: list[str]) -> int:
    print("silvertine: the config names brokers that cannot be loaded:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print(
        "Remove them from the config or set `enabled: false` on them "
        "(`silvertine config` shows what is configured).",
        file=sys.stderr,
    )
    return EXIT_CONFIG


def _unloadable_brokers(
    settings: Settings, registry: BrokerRegistry, *, skip: frozenset[str] = frozenset()
) -> list[str]:
    """`brokers[i] (name): why` for each enabled broker whose adapter cannot be imported,
    checked before anything starts so that it is a config error, not a traceback. Only
    the configured adapters are imported (the registry imports them by name); the
    types in `skip` are not checked."""
    from .brokers.errors import ConfigurationError

    problems = []
    for index, config in enumerate(settings.brokers):
        if not config.enabled or config.type in skip:
            continue
        try:
            registry.factory(config.type)
        except ConfigurationError as exc:
            problems.append(f"brokers[{index}] ({config.name}): {exc}")
    return problems


def _freeze_startup_heap() -> None:
    """Move everything allocated at start-up (modules, schemas, the replayed journal)
    out of the collector's view: a full collection of it takes tens of milliseconds,
    which would show as stalls in the UI and as latency spikes (benchmarks/bus.py)."""
    gc.collect()
    gc.freeze()


async def _start(session: Session) -> int:
    """Start the session: EXIT_OK, or the exit code of what stopped it (an unreachable
    bus, a broker another desk drives), explained, not a traceback."""
    try:
        await session.start()
    except Exception as exc:
        return _start_error(exc)
    _freeze_startup_heap()
    return EXIT_OK


async def _open(session: Session) -> int:
    """Open the session's bus and claim its brokers, as `_start`."""
    try:
        await session.open()
    except Exception as exc:
        return _start_error(exc)
    return EXIT_OK


def _setup_logging(settings: Settings) -> Path:
    """Logs to `log.file`, every secret of the settings kept out of them."""
    from .config import secret_values
    from .logsetup import setup_logging

    log = settings.log
    return setup_logging(log.file, log.level, secret_values(settings), log.levels)


def _log_theme_problems(themes: LoadedThemes | None) -> None:
    """The theme files skipped (`load_themes`: read before logging is set up, so it
    logs nothing itself; its warning went to the terminal, under the UI, and never
    to the log file), in the log once it is there. The desk toasts them too."""
    import logging

    for problem in themes.problems if themes is not None else ():
        logging.getLogger("silvertine_tui.ui.themes").warning(
            "ui.theme_invalid", extra={"problem": problem}
        )


def _headless(settings: Settings, registry: BrokerRegistry) -> int:
    from .engine import Session

    log_file = _setup_logging(settings)

    async def go() -> int:
        import logging
        import signal

        from .events.summary import Describer

        describe = Describer()  # updates name their order, with its terms in force
        events_log = logging.getLogger("silvertine.events")
        session = Session(settings, registry=registry)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            logging.getLogger("silvertine.cli").info("headless.stop", extra={"signal": sig.name})
            stop.set()

        for sig in (signal.SIGINT, *(getattr(signal, name) for name in STOP_SIGNALS)):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            code = await _open(session)
            # The log follows this run's events: each stream from where it ends now,
            # before recovery and the brokers' connect (tailed from 0-0, every start
            # copied the whole journal into the log, rotating away the last run's).
            feed_from = await _feed_ends(session) if code == EXIT_OK else {}
            if code == EXIT_OK:
                code = await _start(session)
        except BaseException:
            await session.close()  # its claims let go: the next desk need not wait
            raise
        if code != EXIT_OK:
            await session.close()
            _said_at_close(session, log_file)  # (the start's failure is the code)
            return code
        print(
            f"silvertine: headless session on {session.bus_url}; log: {log_file}. "
            "Stop with ctrl+c, SIGTERM or SIGHUP.",
            file=sys.stderr,
        )

        async def log_feed() -> None:
            async for entry in session.bus.tail(feed_from):
                kind = getattr(entry.event, "type", "?")
                events_log.info(
                    describe(entry.event),
                    extra={"stream": entry.stream, "id": entry.id, "type": kind},
                )

        feed = asyncio.create_task(log_feed())
        try:
            await stop.wait()
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
            await session.close()
        code = _said_at_close(session, log_file)
        if code == EXIT_OK:
            print("silvertine: stopped cleanly.", file=sys.stderr)
        return code

    return asyncio.run(go())


async def _feed_ends(session: Session) -> dict[str, str]:
    """Where each stream of the session's feed (`Session.feed_streams`: journals,
    health, risk, signals) ends now: the headless desk logs what is written from
    there on. Older events: `silvertine replay`."""
    return {stream: await session.stream_end(stream) for stream in session.feed_streams()}


def _said_at_close(session: Session, log_file: Path) -> int:
    """Said once the session is closed (and the UI gone): orders `engine.cancel_on_exit`
    left working (EXIT_ORDERS_LEFT), then execution events its close could not journal
    (EXIT_NOT_JOURNALED, unless orders were left too); EXIT_OK when neither, and then
    nothing is said here."""
    code = EXIT_OK
    if session.left_working:
        code = _orders_left(session)
    if session.not_journaled:
        _tell(f"silvertine: {session.not_journaled}: {log_file}")
        code = code or EXIT_NOT_JOURNALED
    return code


def _orders_left(session: Session) -> int:
    """Said once the UI is gone: what `engine.cancel_on_exit` was to cancel and left
    working (EXIT_ORDERS_LEFT). Never a silent "bye"."""
    _tell(f"silvertine: NOT CANCELLED on exit: {session.left_working}.")
    return EXIT_ORDERS_LEFT


def _tell(text: str) -> None:
    """A line on stderr, which may be a terminal that hung up (SIGHUP): nothing to
    tell then, and no traceback either (the log has it all). Nor to one that read
    nothing when the desk ended (a stalled SSH session: `output_left_held`): the write
    would wait for it, the process ended only when it read again or hung up."""
    gone = sys.modules.get("silvertine_tui.ui.terminal_gone")  # (loaded by a desk's UI)
    if gone is not None and gone.output_left_held():
        import logging

        logging.getLogger("silvertine.cli").warning("cli.not_told", extra={"text": text})
        return
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


class _StopSignals:
    """SIGHUP and SIGTERM (`STOP_SIGNALS`) on a desk with the UI: the app shuts down as
    on `q`, without the quit dialog (`SilvertineApp.quit_now`); `stopped` names the
    first signal. One while the bus is opened, before there is an app, is remembered:
    `_run_opened` then closes the session without starting the app. A second signal
    changes nothing (the shutdown under way goes on)."""

    def __init__(self) -> None:
        self.stopped = ""
        self.app: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import signal

        loop = asyncio.get_running_loop()
        signals = [getattr(signal, name) for name in STOP_SIGNALS]
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _on_signal(self, name: str) -> None:
        import logging

        logging.getLogger("silvertine.cli").warning("desk.stop_signal", extra={"signal": name})
        if self.stopped:
            return  # shutting down already
        self.stopped = name
        if self.app is not None:
            task = asyncio.get_running_loop().create_task(self.app.quit_now(name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def said(self) -> None:
        if self.stopped:
            _tell(f"silvertine: stopped on {self.stopped}.")


def _run(
    settings: Settings,
    registry: BrokerRegistry | None,
    theme: str | None = None,
    themes: LoadedThemes | None = None,
) -> int:
    """The desk with the bus in this process: its first frame is drawn from the settings,
    and the session (the engine, brokers and bus, and their modules) is built just after
    it. Whatever fails there ends the app and is said here, as before the app: a broker
    that cannot be loaded (exit 2), a bus that cannot be opened (exit 3), a broker that
    another desk drives (exit 4; not on a bus in this process, but said all the same)."""
    from .ui.app import SilvertineApp

    log_file = _setup_logging(settings)
    _log_theme_problems(themes)

    def build_session() -> Session:
        from .brokers import BrokerRegistry
        from .engine import Session

        nonlocal registry
        if registry is None:
            registry = BrokerRegistry()
        problems = _unloadable_brokers(settings, registry)
        if problems:
            raise _Unloadable(problems)
        return Session(settings, registry=registry)

    signals = _StopSignals()
    closed: list[Session] = []

    async def go() -> int:
        app = SilvertineApp(
            settings=settings, build_session=build_session, theme=theme, themes=themes
        )
        signals.app = app
        with signals.installed():
            try:
                await app.run_async()
            finally:
                if app.has_session:
                    await app.session.close()
                    closed.append(app.session)
        if app.crashed is not None:
            return _crashed(app.crashed, log_file)
        return _start_error(app.start_error)

    code = asyncio.run(go())
    return _after_desk(code, closed, signals, log_file)


def _after_desk(code: int, closed: list[Session], signals: _StopSignals, log_file: Path) -> int:
    """Said once the UI is gone: the signal that stopped the desk, orders that
    `engine.cancel_on_exit` left working (EXIT_ORDERS_LEFT), execution events the close
    could not journal (EXIT_NOT_JOURNALED), else "bye". A crash (EXIT_CRASHED) was said
    by `_crashed`; what its close left is said after it, and the code stays."""
    signals.said()
    if code == EXIT_CRASHED and closed:
        _said_at_close(closed[0], log_file)
        return code
    if code == EXIT_OK and closed:
        code = _said_at_close(closed[0], log_file)
    if code == EXIT_OK:
        _tell(f"silvertine: bye. Log: {log_file}")
    return code


def _crashed(error: BaseException, log_file: Path) -> int:
    """The UI ended on an exception no handler caught: one line on stderr (no
    traceback, no locals: the log has the traceback, `SilvertineApp._handle_exception`)
    and EXIT_CRASHED. Its text is kept out of the line where a secret is registered."""
    from .logsetup import redact
    from .ui.format import cut, shown

    what = type(error).__name__
    text = cut(shown(redact(str(error)).replace("\n", " ")), 200, "the log")
    _tell(
        f"silvertine: the desk crashed ({what}{': ' + text if text else ''}): a bug; "
        f"its traceback is in the log: {log_file}"
    )
    return EXIT_CRASHED


class _Unloadable(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _start_error(error: Exception | None) -> int:
    """Said on stderr (once the app is gone, when it started one): why the session
    could not be built, its bus opened or its brokers claimed; the exit code (EXIT_OK
    for none). Anything else is a bug: raised."""
    if error is None:
        return EXIT_OK
    from .bus import BusError
    from .engine.claims import BrokerClaimedError

    if isinstance(error, _Unloadable):
        return _unloadable(error.problems)
    if isinstance(error, BusError):  # unreachable, or refusing (OOM, READONLY...)
        print(f"silvertine: {error}", file=sys.stderr)
        return EXIT_BUS
    if isinstance(error, BrokerClaimedError):
        print("silvertine: not started: another desk drives this desk's brokers.", file=sys.stderr)
        from .ui.format import shown

        for line in error.lines():  # (who holds a claim is read from Redis: `shown`)
            print(f"  {shown(line)}", file=sys.stderr)
        print(
            f"  To watch that desk from here without trading: {error.watch_command()}",
            file=sys.stderr,
        )
        return EXIT_CLAIMED
    raise error


def _run_opened(
    settings: Settings,
    build_session: Callable[[], Session],
    theme: str | None = None,
    themes: LoadedThemes | None = None,
) -> int:
    """The desk on a bus outside the process (Redis): the session is built and its bus
    opened before the app, so that an unreachable bus is a message (exit 3), not a
    desk; recovery runs inside the app, which shows its progress."""
    from .ui.app import SilvertineApp

    log_file = _setup_logging(settings)
    _log_theme_problems(themes)
    session = build_session()

    signals = _StopSignals()

    async def go() -> int:
        with signals.installed():
            # Only the bus is opened here (an unreachable one is a clear message, not
            # a traceback); recovery runs inside the app, which shows its progress.
            code = await _open(session)
            if code != EXIT_OK:
                return code
            try:
                if not signals.stopped:  # else stopped while the bus was opened
                    signals.app = SilvertineApp(session, theme=theme, themes=themes)
                    await signals.app.run_async()
            finally:
                await session.close()
        if signals.app is not None and signals.app.crashed is not None:
            return _crashed(signals.app.crashed, log_file)
        return EXIT_OK

    code = asyncio.run(go())
    return _after_desk(code, [session], signals, log_file)


def _watch(settings: Settings, theme: str | None = None, themes: LoadedThemes | None = None) -> int:
    """`silvertine watch`: the desk over a `WatchSession` (engine/watch.py), its bus
    opened first as `_run_opened` does."""
    if settings.bus.url.startswith("memory://"):
        print(
            "silvertine watch: the memory:// bus lives inside a running silvertine and "
            "cannot be watched from outside. Pass --bus redis://HOST:6379/0 (or set "
            "bus.url) and the --prefix of the desks to watch.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    from .engine.watch import WatchSession

    return _run_opened(settings, lambda: WatchSession(settings), theme=theme, themes=themes)


# -- replay -------------------------------------------------------------------------


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    if settings.bus.url.startswith("memory://"):
        print(
            "silvertine replay: the memory:// bus lives inside a running silvertine and "
            "cannot be read from outside. Pass --bus redis://HOST:6379/0 (or set bus.url).",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_replay_async(settings, args, sys.stdout))
    except BrokenPipeError:
        # Its reader is gone (`silvertine replay | head -2`): what it wanted is printed.
        _stdout_gone()
    return EXIT_OK


def _stdout_gone() -> None:
    """stdout's reader closed the pipe: point stdout at /dev/null, so that the flush
    at exit does not raise the same error again ("Exception ignored ...")."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


async def _replay_async(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from .bus import BusError, BusUnavailableError
    from .engine import open_bus

    bus = open_bus(settings.bus)
    try:
        await bus.start()
    except BusUnavailableError as exc:
        print(f"silvertine replay: {exc}", file=sys.stderr)
        return EXIT_BUS
    try:
        return await _replay_streams(bus, settings, args, out)
    except BusError as exc:
        # Redis out of reach or refusing, mid-replay: said, not a traceback.
        print(f"silvertine replay: {exc}", file=sys.stderr)
        return EXIT_BUS
    finally:
        await bus.close()


async def _replay_streams(
    bus: EventBus, settings: Settings, args: argparse.Namespace, out: TextIO
) -> int:
    """`replay`'s work on an open bus. A `--stream` naming a key of another type is
    said (exit 3), never deleted nor advised to be: it may be a desk's broker claim."""
    from .bus import BusError, BusUnavailableError

    prefix = f"{settings.bus.prefix}:"
    if args.stream:
        streams = [s if s.startswith(prefix) else prefix + s for s in args.stream]
    else:
        streams = [s for s in await bus.streams() if not s.startswith(f"{prefix}snap:")]
    if not streams:
        print(
            f"silvertine replay: no streams under {prefix}* at {settings.bus.redacted_url()}",
            file=sys.stderr,
        )
        return EXIT_OK
    for stream in streams if args.stream else ():
        try:
            await bus.read_last(stream, 1)  # a key of another type is refused
        except BusUnavailableError:
            raise
        except BusError as exc:
            if "WRONGTYPE" not in str(exc):
                raise  # refused otherwise (an ACL...): said as the bus says it
            print(
                f"silvertine replay: {stream} is not a stream (Redis holds another type "
                "of key there), so it has no events to replay. Without --stream every "
                f"stream under {prefix}* is read.",
                file=sys.stderr,
            )
            return EXIT_BUS
    printer = _JsonPrinter(out) if args.json else _TablePrinter(out, prefix)
    count = 0
    last = dict.fromkeys(streams, args.since)
    async with _merged_replays(bus, streams, args.since, args.limit) as history:
        async for entry in history:
            if args.limit is not None and count >= args.limit:
                return EXIT_OK
            printer.print(entry)
            last[entry.stream] = entry.id
            count += 1
    if args.follow and (args.limit is None or count < args.limit):
        async for entry in bus.tail(last):
            printer.print(entry)
            count += 1
            if args.limit is not None and count >= args.limit:
                break
    return EXIT_OK


_REPLAY_PAGE = 5_000  # the bus's own page (`EventBus.replay`)


@contextlib.asynccontextmanager
async def _merged_replays(
    bus: EventBus, streams: Sequence[str], after: str, limit: int | None
) -> AsyncIterator[AsyncIterator[BusEntry]]:
    """Every stream's entries after `after`, merged in entry-id order (ties: in the
    order of `streams`, as the sort it replaces), read lazily: a page of each stream
    at a time (no bigger than `limit`), so that `--limit 1` and `--follow` print at
    once. Before, every stream was read whole into memory and sorted (`--limit 1` on
    100k events: 2.7 s, 293 MB). The streams' readers are closed on the way out."""
    from .bus import parse_id

    batch = min(limit, _REPLAY_PAGE) if limit is not None else _REPLAY_PAGE
    readers = [bus.replay(stream, after=after, batch=batch) for stream in streams]

    async def merged() -> AsyncIterator[BusEntry]:
        heap: list[tuple[tuple[int, int], int, BusEntry]] = []
        for index, reader in enumerate(readers):
            first = await anext(reader, None)
            if first is not None:
                heap.append((parse_id(first.id), index, first))
        heapq.heapify(heap)
        while heap:
            _, index, entry = heap[0]
            yield entry
            following = await anext(readers[index], None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (parse_id(following.id), index, following))

    history = merged()
    try:
        yield history
    finally:
        for reader in (history, *readers):
            aclose = getattr(reader, "aclose", None)
            if aclose is not None:
                await aclose()


class _TablePrinter:
    def __init__(self, out: TextIO, prefix: str) -> None:
        self.out = out
        self.prefix = prefix
        self.header = False
        from .events.summary import Describer

        # The journal has no instrument definitions: numbers are trimmed (see
        # events/summary.py); requests are remembered so updates name their order,
        # with the terms in force at each (every accepted modify folded in); order ids
        # are printed whole (to grep for).
        self.describe = Describer(id_width=None)

    def _line(self, *cells: str) -> None:
        # A journal holds others' words: never raw to the terminal (`ui.format.shown`).
        from .ui.format import shown

        stamp, entry_id, stream, kind, source, text = (shown(cell) for cell in cells)
        self.out.write(f"{stamp:<12} {entry_id:<16} {stream:<24} {kind:<13} {source:<14} {text}\n")

    def print(self, entry: Any) -> None:
        if not self.header:
            self._line("time (UTC)", "entry id", "stream", "type", "source", "event")
            self.header = True
        event = entry.event
        ts = getattr(event, "ts", None)
        when = datetime.fromtimestamp(ts / 1e9, UTC).strftime("%H:%M:%S.%f")[:12] if ts else "-"
        self._line(
            when,
            entry.id,
            entry.stream.removeprefix(self.prefix),
            getattr(event, "type", "!bad"),
            getattr(event, "source", "-"),
            self.describe(event),
        )
        self.out.flush()


class _JsonPrinter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def print(self, entry: Any) -> None:
        import orjson

        from .events import DecodeError, UnknownEvent

        event = entry.event
        record: dict[str, Any] = {"stream": entry.stream, "id": entry.id}
        if isinstance(event, DecodeError):
            record["error"] = event.reason
            record["fields"] = event.fields
        elif isinstance(event, UnknownEvent):
            record["unknown"] = {
                "type": event.type,
                "v": event.v,
                "event_id": event.event_id,
                "ts": event.ts,
                "source": event.source,
                "payload": event.payload.decode(errors="replace"),
            }
        else:
            record["event"] = event.model_dump(mode="json")
        self.out.write(orjson.dumps(record).decode() + "\n")
        self.out.flush()


if __name__ == "__main__":
    sys.exit(main())
