"""What stands before the first frame: the CLI's start path (config, broker check,
session, the bus opened, the app built) on the default paper broker and memory bus
imports no venue library, no Redis client and no test library, builds no adapter it
was not asked for, and reads no package's entry points (only a broker type that is
not built in needs them). Each case runs in a fresh interpreter."""

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
    "redis",
    "websockets",
    "silvertine_tui.brokers.binance",
    "silvertine_tui.brokers.ib",
    "silvertine_tui.bus.redis_streams",
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
    print(json.dumps({"modules": sorted(sys.modules), "entry_point_groups": groups}))
    """
)


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
