"""`silvertine run --headless`: the session without the UI, stopped cleanly by signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_headless_runs_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    env.pop("SILVERTINE_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "silvertine_tui",
        "run",
        "--headless",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            banner = await proc.stderr.readline()
            assert b"headless session on memory://" in banner, banner
            await asyncio.sleep(1.0)  # let the paper market run a little
            proc.send_signal(stop)
            _, rest = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, rest.decode()[-2000:]
    assert b"stopped cleanly" in rest
    assert b"Traceback" not in rest
    log = tmp_path / "silvertine" / "silvertine.log"
    records = [orjson.loads(line) for line in log.read_text().splitlines()]
    names = [r["event"] for r in records]
    assert "session.started" in names
    assert "session.closed" in names
    assert any(r.get("logger") == "silvertine.events" for r in records)
