"""What stands before the first frame, and what the start imports at all.

`silvertine run` on the default paper broker and memory bus draws the desk's first
frame from the settings alone: at that frame (the real command on a pty, looked at as
the frame is written) no module of the engine, the bus, the brokers or the events is
imported, nor the panes' widgets, and only the config's and the UI's models are built;
the marker says LIVE from the first frame when the config has a broker for real money.

The whole start path (config, broker check, the session built and its bus opened, the
app made: before and just after the first frame) imports no venue library, no Redis
client and no test library, nor pydantic-settings and PyYAML (no config file and no
`SILVERTINE_*` variable: nothing for them to read); it builds no adapter it was not
asked for, reads no package's entry points (only a broker type that is not built in
needs them), and builds the validators of none of the order, command or event models,
nor the event and command unions, it does not use (pydantic builds them on first use:
`defer_build`). Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from benchmarks.pty_child import drain, spawn_on_pty, terminal_env

ROOT = Path(__file__).resolve().parents[2]

NOT_BEFORE_THE_FIRST_FRAME = (
    "aiohttp",
    "binance",
    "hiredis",
    "hypothesis",
    "ib_async",
    "pydantic_settings",
    "redis",
    "websockets",
    "yaml",
    "silvertine_tui.brokers.binance",
    "silvertine_tui.brokers.ib",
    "silvertine_tui.bus.redis_streams",
    "silvertine_tui.config_sources",
)

START_PATH = textwrap.dedent(
    """
    import asyncio, importlib.metadata, json, sys

    groups = []
    entry_points = importlib.metadata.entry_points

    def recorded(**params):
        groups.append(params.get("group"))
        return entry_points(**params)

    importlib.metadata.entry_points = recorded

    from silvertine_tui import cli
    from silvertine_tui.brokers import BrokerRegistry
    from silvertine_tui.config import load_settings
    from silvertine_tui.engine import Session
    from silvertine_tui.ui.app import SilvertineApp

    # What `silvertine` (run) does around the app's first frame, in its order: the
    # settings and the app before it; the check, the session and its bus after it.
    settings = load_settings(None)

    async def build_and_open():
        SilvertineApp(settings=settings, build_session=lambda: None)
        registry = BrokerRegistry()
        assert cli._unloadable_brokers(settings, registry) == []
        session = Session(settings, registry=registry)
        await session.open()
        await session.close()

    asyncio.run(build_and_open())

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    from pydantic import BaseModel

    built = sorted(
        {
            f"{cls.__module__}.{cls.__qualname__}"
            for cls in subclasses(BaseModel)
            if cls.__module__.startswith("silvertine_tui.") and cls.__pydantic_complete__
        }
    )
    from silvertine_tui.engine import commands
    from silvertine_tui.events import kinds

    adapters = {
        "EVENT_ADAPTER": kinds.EVENT_ADAPTER,
        "COMMANDS": commands.COMMANDS,
        "OUTCOMES": commands.OUTCOMES,
    }
    built += [name for name, adapter in adapters.items() if adapter.pydantic_complete]
    print(
        json.dumps(
            {"modules": sorted(sys.modules), "entry_point_groups": groups, "built": built}
        )
    )
    """
)


# The models the start path uses: the config, the UI's themes and saved state, the
# paper adapter's instruments and capabilities, the bus's health event, and the desk's
# name on the claims of its brokers (engine/claims.py).
BUILT_BEFORE_THE_FIRST_FRAME = ("silvertine_tui.config.", "silvertine_tui.ui.")
USED_BEFORE_THE_FIRST_FRAME = {
    "silvertine_tui.domain.capabilities.Capabilities",
    "silvertine_tui.domain.instrument.Instrument",
    "silvertine_tui.engine.claims.DeskId",
    "silvertine_tui.events.kinds.HealthEvent",
    "silvertine_tui.events.payloads.Health",
}


def run_start_path() -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILVERTINE_")}
    proc = subprocess.run(
        [sys.executable, "-c", START_PATH],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names)]


def test_a_paper_desk_on_the_memory_bus_imports_nothing_it_does_not_use() -> None:
    result = run_start_path()
    assert loaded(result["modules"], NOT_BEFORE_THE_FIRST_FRAME) == []
    # The configured adapter is imported, by name.
    assert "silvertine_tui.brokers.paper" in result["modules"]


def test_built_in_broker_types_read_no_entry_points() -> None:
    result = run_start_path()
    assert "silvertine.brokers" not in result["entry_point_groups"]


def test_models_the_first_frame_does_not_use_are_not_built() -> None:
    built = run_start_path()["built"]
    others = [
        name
        for name in built
        if not name.startswith(BUILT_BEFORE_THE_FIRST_FRAME)
        and name not in USED_BEFORE_THE_FIRST_FRAME
    ]
    assert others == []
    assert "silvertine_tui.config.Settings" in built  # the config is validated first


# `silvertine run` on a pty; at the desk's first frame (the first time the main screen
# is written to the terminal) the child writes what it has imported and built, and
# ends. `PRELUDE` runs first (a test's changes to the environment).
FIRST_FRAME = textwrap.dedent(
    """
    import html, json, os, re, sys

    from textual.app import App

    out = sys.argv[1]
    display = App._display

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def look(self, screen, renderable):
        display(self, screen, renderable)
        if type(screen).__name__ == "MainScreen" and renderable is not None:
            from pydantic import BaseModel

            built = sorted(
                f"{cls.__module__}.{cls.__qualname__}"
                for cls in subclasses(BaseModel)
                if cls.__module__.startswith("silvertine_tui.") and cls.__pydantic_complete__
            )
            header = screen.query_one("#header").render().plain
            svg = self.export_screenshot()
            text = html.unescape(" ".join(re.findall("<text[^>]*>([^<]*)</text>", svg)))
            result = {"modules": sorted(sys.modules), "built": built, "header": header}
            with open(out, "w") as f:
                json.dump({**result, "screen": text.replace("\xa0", " ")}, f)
            os._exit(0)

    App._display = look
    PRELUDE
    from silvertine_tui.cli import main

    sys.exit(main(sys.argv[2:]))
    """
)

NOT_AT_THE_FIRST_FRAME = (
    "silvertine_tui.brokers",
    "silvertine_tui.bus",
    "silvertine_tui.engine",
    "silvertine_tui.events",
    # the session's side of the UI and the panes' contents
    "silvertine_tui.ui.desk",
    "silvertine_tui.ui.model",
    "silvertine_tui.ui.orders",
    "silvertine_tui.ui.screens.quit",
    "silvertine_tui.ui.widgets.balances",
    "silvertine_tui.ui.widgets.blotter",
    "silvertine_tui.ui.widgets.event_log",
    "silvertine_tui.ui.widgets.health",
    "silvertine_tui.ui.widgets.positions",
    "silvertine_tui.ui.widgets.signals",
    "silvertine_tui.ui.widgets.startup",
    "silvertine_tui.ui.widgets.ticket",
    "silvertine_tui.ui.widgets.watchlist",
)


def on_a_pty(
    tmp_path: Path, script: str, args: list[str], env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run `script` with `args` on a fresh 120x36 pty; its exit code and what it wrote."""
    chunks: list[bytes] = []
    environment = {**terminal_env(tmp_path), **(env or {})}
    proc, master = spawn_on_pty([sys.executable, "-c", script, *args], environment, cwd=ROOT)
    reader = threading.Thread(target=drain, args=(master, chunks.append), daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def first_frame(
    tmp_path: Path, args: list[str], env: dict[str, str] | None = None, prelude: str = ""
) -> dict[str, object]:
    out = tmp_path / "first-frame.json"
    script = FIRST_FRAME.replace("PRELUDE", prelude or "pass")
    code, screen = on_a_pty(tmp_path, script, [str(out), *args], env)
    assert code == 0, screen[-3000:]
    assert out.exists(), f"no first frame; the terminal said: {screen[-3000:]!r}"
    result: dict[str, object] = json.loads(out.read_text())
    return result


def test_the_desks_first_frame_comes_before_the_engine_the_bus_and_the_brokers(
    tmp_path: Path,
) -> None:
    result = first_frame(tmp_path, ["run"])
    modules = result["modules"]
    assert isinstance(modules, list)
    assert loaded(modules, NOT_AT_THE_FIRST_FRAME) == []
    assert loaded(modules, NOT_BEFORE_THE_FIRST_FRAME) == []
    assert "silvertine_tui.ui.screens.main" in modules  # the desk's frame, not another
    built = result["built"]
    assert isinstance(built, list)
    assert [name for name in built if not name.startswith(BUILT_BEFORE_THE_FIRST_FRAME)] == []
    assert "silvertine_tui.config.Settings" in built
    header = result["header"]
    assert isinstance(header, str)
    assert header.split()[:2] == ["PAPER", "SILVERTINE"]
    # The keys that reach the engine show from the first frame, as before (pressed
    # before the session is there, they say the desk is starting).
    screen = result["screen"]
    assert isinstance(screen, str)
    for key in ("Cancel all", "KILL", "Resume", "Quit"):
        assert key in screen, screen


LIVE_CONFIG = """
bus:
  url: memory://
brokers:
  - name: binance
    type: binance
    account: main
    api_key: key-for-the-test
    api_secret: secret-for-the-test
    testnet: false
    live: true
"""


def test_a_live_config_says_live_on_the_first_frame(tmp_path: Path) -> None:
    config = tmp_path / "live.yaml"
    config.write_text(LIVE_CONFIG)
    result = first_frame(tmp_path, ["run", "--config", str(config)])
    header = result["header"]
    assert isinstance(header, str)
    assert header.split()[:2] == ["LIVE", "SILVERTINE"]


# The paper adapter missing from the install (it never is, short of a broken one): on
# the memory bus it is imported after the first frame, and the command still says
# which broker cannot be loaded, with exit 2, once the app is gone.
PAPER_MISSING = textwrap.dedent(
    """
    import sys

    from silvertine_tui.brokers import registry

    registry.BUILTIN["paper"] = "silvertine_tui.brokers.absent_paper:X"
    from silvertine_tui.cli import main

    sys.exit(main(["run"]))
    """
)


def test_a_paper_adapter_that_cannot_be_loaded_is_said_after_the_first_frame(
    tmp_path: Path,
) -> None:
    code, screen = on_a_pty(tmp_path, PAPER_MISSING, [])
    assert code == 2, screen[-3000:]
    assert "cannot be loaded" in screen
    assert "brokers[0] (paper)" in screen
    assert "Traceback" not in screen
