"""`python -m benchmarks ui --start-only`: how a launch is timed on the pty (the
figures themselves are reported by the benchmark, never asserted: a loaded machine
moves them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from benchmarks.pty_child import terminal_env
from benchmarks.ui_start import spawn_until

# Writes the first marker, burns some CPU, writes the second, then waits to be killed.
CHILD = """
import sys, time
sys.stdout.write("\\x1b[1mSILVER" + "TINE\\x1b[0m"); sys.stdout.flush()
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
sys.stdout.write("recovering: 1 of 2 events"); sys.stdout.flush()
time.sleep(60)
"""


def test_each_marker_is_timed_from_the_spawn_with_the_childs_cpu(tmp_path: Path) -> None:
    seen = spawn_until(
        [sys.executable, "-c", CHILD], [b"SILVERTINE", b"recovering:"], terminal_env(tmp_path)
    )
    assert 0 < seen["silvertine_s"] <= seen["recovering_s"] < 30
    # The CPU burnt between the two markers is the child's, read from /proc.
    assert seen["recovering_cpu_s"] - seen["silvertine_cpu_s"] >= 0.15


def test_a_child_that_never_draws_the_marker_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="never showed"):
        spawn_until(
            [sys.executable, "-c", "print('something else')"],
            [b"SILVERTINE"],
            terminal_env(tmp_path),
        )


def test_the_child_gets_no_textual_colour_or_silvertine_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SILVERTINE_BUS__URL", "redis://elsewhere:6379/0")
    monkeypatch.setenv("TEXTUAL_THEME", "x")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    env = terminal_env(tmp_path, colorterm="truecolor")
    assert not [k for k in env if k.startswith(("SILVERTINE_", "TEXTUAL"))]
    assert not {"NO_COLOR", "COLUMNS", "LINES"} & set(env)
    assert env["COLORTERM"] == "truecolor"
    assert env["XDG_STATE_HOME"] == str(tmp_path)


def test_drain_hands_over_everything_the_child_wrote_until_it_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.pty_child import HEIGHT, WIDTH, drain, spawn_on_pty

    child = "import shutil; print(shutil.get_terminal_size(), 'x' * 200000, 'END')"
    monkeypatch.setenv("COLUMNS", "80")  # the pty's size wins over a shell's
    monkeypatch.setenv("LINES", "24")
    proc, master = spawn_on_pty([sys.executable, "-c", child], terminal_env(tmp_path))
    chunks: list[bytes] = []
    try:
        drain(master, chunks.append)
    finally:
        proc.wait(timeout=30)
        os.close(master)
    text = b"".join(chunks).decode()
    assert f"columns={WIDTH}, lines={HEIGHT}" in text
    assert text.count("x") == 200000
    assert text.rstrip().endswith("END")
