"""What stands before the first frame: the CLI's start path (config, broker check,
session, the bus opened, the app built) on the default paper broker and memory bus
imports no venue library, no Redis client and no test library, nor pydantic-settings
and PyYAML (no config file and no `SILVERTINE_*` variable: nothing for them to read);
it builds no adapter it was not asked for, reads no package's entry points (only a
broker type that is not built in needs them), and builds the validators of none of
the order, command or event models, nor the event and command unions, it does not use
(pydantic builds them on first use: `defer_build`). Each case runs in a fresh
interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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

    # What `silvertine` (run) does before the app's first frame, in its order.
    settings = load_settings(None)
    registry = BrokerRegistry()
    assert cli._unloadable_brokers(settings, registry) == []
    session = Session(settings, registry=registry)

    async def open_and_build():
        await session.open()
        SilvertineApp(session)
        await session.close()

    asyncio.run(open_and_build())

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
# paper adapter's instruments and capabilities, and the bus's health event.
BUILT_BEFORE_THE_FIRST_FRAME = ("silvertine_tui.config.", "silvertine_tui.ui.")
USED_BEFORE_THE_FIRST_FRAME = {
    "silvertine_tui.domain.capabilities.Capabilities",
    "silvertine_tui.domain.instrument.Instrument",
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
