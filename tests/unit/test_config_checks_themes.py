"""Theme files and the command's output:

- a bad colour in `[variables]` was loaded and crashed the desk at start (exit 6,
  "a bug"): the file is skipped and named, as docs/ui.md promises;
- a broken theme file's warning went to the terminal (before the UI) and never to the
  log file: the command logs it once logging is set up;
- `silvertine config | head` could end in a BrokenPipeError traceback (exit 1)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from silvertine_tui.cli import EXIT_BUS, main
from silvertine_tui.ui.themes import load_themes

THEMES = Path(__file__).resolve().parents[2] / "themes"

THEME = """name = "{name}"
dark = true
[colors]
primary = "#4c9be8"
[trading]
bid = "#3fb950"
ask = "#f85149"
pnl-up = "#56d364"
pnl-down = "#ff7b72"
paper = "#2f81f7"
live = "#da3633"
stale = "#6e7681"
halted = "#ff4040"
[variables]
{variables}
"""


def theme_dir(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "themes"
    directory.mkdir(parents=True, exist_ok=True)
    for name, variables in files.items():
        text = THEME.format(name=name.replace("_", "-"), variables=variables)
        (directory / f"{name}.toml").write_text(text)
    return directory


@pytest.mark.parametrize(
    "variables",
    [
        'border = "notacolour"',
        'footer-key-foreground = "$accent"',
        'border = "red; background: blue"',
        'block-cursor-text-style = "#ffffff"',
    ],
)
def test_a_bad_variable_skips_the_file_and_names_it(tmp_path: Path, variables: str) -> None:
    loaded = load_themes([theme_dir(tmp_path, broken=variables)])
    assert "broken" not in loaded.themes
    (problem,) = loaded.problems
    assert problem.startswith("broken.toml: variables")
    assert variables.split(" = ")[0] in problem


def test_textual_values_of_every_kind_pass(tmp_path: Path) -> None:
    variables = "\n".join(
        [
            'footer-key-foreground = "#ffd75f"',
            'border = "ansi_bright_blue"',
            'border-blurred = "transparent"',
            'text = "auto 87%"',
            'primary-muted = "#4c9be8 50%"',
            'block-cursor-text-style = "b reverse"',
            'link-style-hover = "not underline"',
            'scrollbar = "rgb(10, 20, 30)"',
        ]
    )
    loaded = load_themes([theme_dir(tmp_path, fine=variables)])
    assert loaded.problems == []
    assert "fine" in loaded.themes


def test_the_shipped_themes_load() -> None:
    loaded = load_themes([THEMES])
    assert loaded.problems == []
    assert len(loaded.themes) == 4


def test_loading_themes_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Read before logging is set up, a log line here went to the terminal (Python's
    last-resort handler: stderr, under the UI) and never to the log file."""
    with caplog.at_level(logging.DEBUG):
        loaded = load_themes([theme_dir(tmp_path, broken='border = "notacolour"')])
    assert loaded.problems
    assert caplog.records == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_logs_a_skipped_theme_to_the_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on an unreachable Redis: logging is set up, then the bus fails (exit 3);
    the skipped theme is in the log file, not on the terminal."""
    for name in list(os.environ):
        if name.lower().startswith("silvertine_"):
            monkeypatch.delenv(name)
    config_home = tmp_path / "cfg"
    theme_dir(config_home / "silvertine", broken='border = "notacolour"')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert main(["run", "--bus", f"redis://127.0.0.1:{free_port()}/0"]) == EXIT_BUS
    assert "ui.theme_invalid" not in capsys.readouterr().err
    log_file = tmp_path / "state" / "silvertine" / "silvertine.log"
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    (logged,) = [line for line in lines if line["event"] == "ui.theme_invalid"]
    assert logged["level"] == "WARNING"
    assert logged["problem"].startswith("broken.toml: variables")


def test_config_into_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    """`silvertine config | head`: the reader is gone before anything is written."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("silvertine_")}
    env.update(XDG_STATE_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    child = subprocess.Popen(
        [sys.executable, "-m", "silvertine_tui", "config"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    child.stdout.close()  # (long before the child has imported anything)
    _, err = child.communicate(timeout=120)
    assert err.decode() == ""
    assert child.returncode == 0
