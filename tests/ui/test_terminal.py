"""`silvertine` with no arguments on a real pseudo-terminal of 80x24: it starts on the
paper broker and memory://, shows the PAPER marker and the quotes, keeps to the
16 colours it was told to use, and quits on `q`."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from benchmarks.pty_child import drain

SGR = re.compile(rb"\x1b\[([0-9;]*)m")
SIXTEEN = {str(n) for n in [*range(30, 38), *range(40, 48), *range(90, 98), *range(100, 108)]}
ATTRIBUTES = {"", "0", "1", "2", "3", "4", "7", "21", "22", "23", "24", "27", "39", "49"}


def colour_codes(data: bytes) -> set[str]:
    codes: set[str] = set()
    for match in SGR.finditer(data):
        parts = match.group(1).decode().split(";")
        i = 0
        while i < len(parts):
            if parts[i] in ("38", "48"):
                codes.add(f"{parts[i]};{parts[i + 1]}")
                i += 3 if parts[i + 1] == "5" else 5
            else:
                codes.add(parts[i])
                i += 1
    return codes


@pytest.mark.parametrize("system", ["standard", "256"])
def test_silvertine_starts_on_paper_in_a_small_terminal(tmp_path: Path, system: str) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "SILVERTINE"))}
    env.update(TERM="xterm-256color", TEXTUAL_COLOR_SYSTEM=system, XDG_STATE_HOME=str(tmp_path))
    env.pop("COLORTERM", None)
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()
    reader = threading.Thread(target=drain, args=(master, received.extend), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while b"BTCUSDT.PAPER" not in received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"BTCUSDT.PAPER" in received, "no quotes on screen"
        os.write(master, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        os.close(master)
    data = bytes(received)
    assert b"PAPER" in data
    # The header's "bus memory://" may reach the terminal split by Textual's partial
    # repaints; the log says for certain which bus the session ran on.
    log = (tmp_path / "silvertine" / "silvertine.log").read_text()
    started = [json.loads(line) for line in log.splitlines() if '"session.started"' in line]
    assert started
    assert started[0]["bus"] == "memory://"
    assert started[0]["brokers"] == "paper/main"
    codes = colour_codes(data)
    if system == "standard":
        assert codes - SIXTEEN - ATTRIBUTES == set()
    else:
        assert not any(c.startswith(("38;2", "48;2")) for c in codes)  # no truecolour
        assert "38;5" in codes
    assert (tmp_path / "silvertine" / "silvertine.log").exists()
