"""`silvertine run` with an IB broker and no gateway listening: the session starts, IB
is DISCONNECTED with the reason and retries; no traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import orjson


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_gateway_the_session_runs_and_says_why(tmp_path: Path) -> None:
    config = tmp_path / "ib.yaml"
    config.write_text(
        "brokers:\n"
        "  - name: ib\n"
        "    type: ib\n"
        "    account: DU123456\n"
        f"    port: {_closed_port()}\n"
        "    symbols: [AAPL]\n"
        "    reconnect_delay_s: 0.2\n"
        "    reconnect_max_delay_s: 0.4\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "silvertine_tui", "run", "--headless",
        "--config", str(config), "--bus", "memory://",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            banner = await proc.stderr.readline()
            assert b"headless session" in banner, banner
            await asyncio.sleep(1.5)  # a few reconnect attempts
            proc.send_signal(signal.SIGTERM)
            _, rest = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, rest.decode()[-2000:]
    assert b"Traceback" not in rest
    log = tmp_path / "silvertine" / "silvertine.log"
    records = [orjson.loads(line) for line in log.read_text().splitlines()]
    states = [
        r for r in records if r["event"] == "broker.state" and r.get("broker") == "ib/DU123456"
    ]
    assert any(
        r["state"] == "DISCONNECTED" and "no TWS or IB Gateway listening" in r["detail"]
        for r in states
    )
    assert sum("retrying in" in r["detail"] for r in states) >= 2
    assert "session.started" in [r["event"] for r in records]
