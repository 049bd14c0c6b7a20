"""`silvertine` command line: errors are explained, exit codes are stable."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from silvertine_tui.cli import EXIT_BUS, EXIT_CONFIG, main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "watch", "replay", "config"):
        assert command in out


def test_bad_config_exits_2_with_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("bus:\n  url: http://example\n")
    assert main(["config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "bus.url" in err
    assert "http" in err


@pytest.mark.parametrize("command", ["config", "run", "watch"])
def test_a_keymap_binding_two_actions_to_one_key_exits_2_naming_both(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked at config load, before any desk: F12 would send from the ticket and
    open "Cancel all" at once (the ticket's binding is nearer the focus: it never sent)."""
    config = tmp_path / "clash.yaml"
    config.write_text(
        "bus:\n  url: redis://127.0.0.1:1/0\n"
        "ui:\n  keymap:\n    ticket.fire: f12\n    app.cancel_all: f12\n"
    )
    assert main([command, "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"invalid configuration in {config}" in err
    assert (
        "ui.keymap: f12 is bound to both app.cancel_all and ticket.fire, which answer it at "
        "the same time (Order ticket): give one of them another key"
    ) in err


def test_a_keymap_that_moves_a_key_out_of_the_way_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "moved.yaml"
    config.write_text(
        "ui:\n  keymap:\n    ticket.fire: ctrl+x\n    app.cancel_all: f12\n"
        "    blotter.cancel: x\n"  # x closes a position, in another pane: no clash
    )
    assert main(["config", "--config", str(config)]) == 0
    assert '"ticket.fire": "ctrl+x"' in capsys.readouterr().out


def test_config_prints_settings_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "key-AAAA-visible-nowhere")
    monkeypatch.setenv("BINANCE_API_SECRET", "secret-BBBB-visible-nowhere")
    config = Path(__file__).resolve().parents[2] / "config" / "binance.yaml"
    assert main(["config", "--config", str(config), "--bus", "redis://:pw-CCCC@127.0.0.1:1/0"]) == 0
    out = capsys.readouterr().out
    assert '"binance"' in out
    for secret in ("key-AAAA", "secret-BBBB", "pw-CCCC"):
        assert secret not in out


@pytest.mark.parametrize("command", ["replay", "watch"])
def test_replay_and_watch_refuse_the_memory_bus(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--bus", "memory://"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"silvertine {command}: the memory:// bus lives inside a running silvertine" in err
    assert "--bus redis://HOST:6379/0" in err


def test_replay_explains_an_unreachable_redis_without_a_traceback() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    proc = subprocess.run(
        [sys.executable, "-m", "silvertine_tui", "replay", "--bus", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == EXIT_BUS
    assert "cannot reach Redis" in proc.stderr
    assert "Is redis-server running" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hunter2-secret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "mode", [["run"], ["run", "--headless"], ["watch"]], ids=["ui", "headless", "watch"]
)
def test_run_explains_an_unreachable_redis_without_a_traceback(
    mode: list[str], tmp_path: Path
) -> None:
    """Before the UI starts: a terminal that shows a traceback is no help to a trader."""
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    proc = subprocess.run(
        [sys.executable, "-m", "silvertine_tui", *mode, "--bus", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
    )
    assert proc.returncode == EXIT_BUS
    assert "silvertine:" in proc.stderr
    assert "Redis" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hunter2-secret" not in proc.stderr + proc.stdout


def test_memory_bus_keeps_less_market_data_than_redis() -> None:
    from silvertine_tui.config import BusConfig
    from silvertine_tui.engine import bus_options

    assert bus_options(BusConfig(url="memory://")).md_maxlen == 2_000
    assert bus_options(BusConfig(url="memory://", md_maxlen=500)).md_maxlen == 500
    assert bus_options(BusConfig(url="redis://127.0.0.1:6379/0")).md_maxlen == 100_000


def test_memory_bus_keeps_fewer_health_heartbeats_than_redis() -> None:
    from silvertine_tui.config import BusConfig
    from silvertine_tui.engine import bus_options

    assert bus_options(BusConfig(url="memory://")).health_maxlen == 1_000
    assert bus_options(BusConfig(url="memory://", health_maxlen=300)).health_maxlen == 300
    assert bus_options(BusConfig(url="redis://127.0.0.1:6379/0")).health_maxlen == 10_000


@pytest.mark.parametrize("config_name", ["binance.yaml", "ib.yaml", "multi.yaml"])
@pytest.mark.parametrize("mode", [["run"], ["run", "--headless"]])
def test_a_broker_that_cannot_be_loaded_exits_2_naming_it(
    config_name: str,
    mode: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped example configs name venues whose adapter may be missing from an
    install: the trader gets exit 2 and which broker, never a traceback."""
    from silvertine_tui.brokers import registry

    for kind in ("binance", "ib"):
        monkeypatch.setitem(registry.BUILTIN, kind, f"silvertine_tui.brokers.absent_{kind}:X")
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "IB_ACCOUNT"):
        monkeypatch.setenv(name, "set-for-the-test")
    config = Path(__file__).resolve().parents[2] / "config" / config_name
    # The check comes before the bus: an unreachable Redis must not mask it.
    args = [*mode, "--config", str(config), "--bus", f"redis://127.0.0.1:{free_port()}/0"]
    assert main(args) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "could not be loaded" in err
    assert "brokers[" in err
    assert "Traceback" not in err


GC_DURING_START = """
import gc, json, sys

seen = {}

def hook(event, args):
    if event == "import" and args[0] in ("silvertine_tui.config", "pydantic"):
        seen.setdefault(args[0], gc.isenabled())

sys.addaudithook(hook)
from silvertine_tui.cli import main

code = main(sys.argv[1:])
print(json.dumps({"code": code, "while_importing": seen, "after": gc.isenabled()}))
"""


@pytest.mark.parametrize("argv", [["config"], ["config", "--prefix", "bad prefix"]])
def test_the_collector_is_paused_while_the_start_imports_and_restored_after(
    argv: list[str],
) -> None:
    """Start-up's modules, classes and schemas live as long as the process: the
    collector does not scan them over and over while they are built (cli.main), and
    is running again once `main` returns, whatever the outcome."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILVERTINE_")}
    proc = subprocess.run(
        [sys.executable, "-c", GC_DURING_START, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    result = json_line(proc.stdout)
    assert result["code"] == (0 if argv == ["config"] else EXIT_CONFIG), proc.stderr
    assert result["while_importing"] == {"silvertine_tui.config": False, "pydantic": False}
    assert result["after"] is True


def json_line(out: str) -> dict[str, object]:
    import json

    last: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return last


# -- what `silvertine config` refuses: what `silvertine run` would refuse -----------------

THEMES = Path(__file__).resolve().parents[2] / "themes"
KNOWN_THEMES = (
    "known themes: silvertine-amber, silvertine-dark, silvertine-high-contrast, silvertine-light"
)


@pytest.fixture
def own_themes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's theme directory, empty: the shipped themes are all there is."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("SILVERTINE_CONFIG", raising=False)
    return tmp_path / "xdg-config" / "silvertine" / "themes"


def test_config_refuses_an_unknown_broker_type_as_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], own_themes: Path
) -> None:
    config = tmp_path / "krakken.yaml"
    config.write_text("brokers:\n  - name: k\n    type: krakken\n    account: main\n")
    assert main(["config", "--config", str(config)]) == EXIT_CONFIG
    checked = capsys.readouterr()
    assert "brokers[0] (k): unknown broker type 'krakken'; known types: binance, ib, paper" in (
        checked.err
    )
    assert checked.out == ""  # nothing printed as if it were a good config
    assert main(["run", "--config", str(config)]) == EXIT_CONFIG
    assert capsys.readouterr().err == checked.err


@pytest.mark.parametrize("command", ["config", "run", "watch"])
def test_an_unknown_ui_theme_is_a_config_error_naming_the_field_and_the_themes(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], own_themes: Path
) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text("ui:\n  theme: solarized-neon\n")
    # (An unreachable Redis: what is refused is refused before the bus is looked for.)
    bus = ["--bus", f"redis://127.0.0.1:{free_port()}/0"] if command != "config" else []
    assert main([command, "--config", str(config), *bus]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"silvertine: invalid configuration in {config} (1 problem)" in err
    assert f"ui.theme: unknown theme 'solarized-neon'; {KNOWN_THEMES}." in err
    assert str(own_themes) in err  # where the trader's own theme would go


@pytest.mark.parametrize("command", ["run", "watch"])
def test_an_unknown_theme_option_is_refused_naming_the_themes(
    command: str, capsys: pytest.CaptureFixture[str], own_themes: Path
) -> None:
    bus = ["--bus", f"redis://127.0.0.1:{free_port()}/0"]
    assert main([command, "--theme", "nope", *bus]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"silvertine: --theme: unknown theme 'nope'; {KNOWN_THEMES}." in err


def test_a_theme_of_the_users_own_is_known_to_the_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], own_themes: Path
) -> None:
    """Themes are files, the user's own directory included: the check reads them all
    (run goes on to the bus, here unreachable: exit 3, not 2)."""
    own_themes.mkdir(parents=True)
    text = (THEMES / "silvertine-dark.toml").read_text()
    (own_themes / "mine.toml").write_text(text.replace('"silvertine-dark"', '"my-desk"'))
    config = tmp_path / "desk.yaml"
    config.write_text("ui:\n  theme: my-desk\n")
    assert main(["config", "--config", str(config)]) == 0
    assert '"theme": "my-desk"' in capsys.readouterr().out
    bus = f"redis://127.0.0.1:{free_port()}/0"
    assert main(["run", "--config", str(config), "--theme", "my-desk", "--bus", bus]) == EXIT_BUS
    assert "theme" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["config", "run"])
def test_a_log_file_that_cannot_be_written_exits_2_naming_it(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`log.file` under a file (or a directory): `run` stopped with a traceback
    (`NotADirectoryError`) and `config` said the settings were fine."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SILVERTINE_LOG__FILE", str(blocker / "desk.log"))
    args = [command] + (["--headless"] if command == "run" else [])
    assert main(args) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"log.file: cannot write {blocker / 'desk.log'}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("set_in_config", [True, False], ids=["log.file set", "default"])
def test_a_watcher_writes_its_own_log_never_the_desks(
    set_in_config: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watcher started with the desk's own config (log.file set) wrote and rotated the
    desk's log file: two processes interleaving one file. It writes `<name>-watch` beside
    it, set or default."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = tmp_path / "desk.yaml"
    desk_log = tmp_path / "logs" / "desk.log"
    (tmp_path / "logs").mkdir()
    config.write_text(f"log:\n  file: {desk_log}\n" if set_in_config else "{}\n")
    if not set_in_config:
        desk_log = tmp_path / "state" / "silvertine" / "silvertine.log"
    bus = ["--bus", f"redis://127.0.0.1:{free_port()}/0"]
    assert main(["watch", "--config", str(config), *bus]) == EXIT_BUS
    logging.shutdown()
    watch_log = desk_log.with_name(f"{desk_log.stem}-watch.log")
    assert watch_log.exists()
    assert not desk_log.exists()
