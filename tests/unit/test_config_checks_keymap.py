"""`ui.keymap` entries that cannot work are refused when the config is loaded (exit 2,
naming the entry and the rule): a key Textual never reports (`ctrl-k` for ctrl+k),
which left the kill switch with no key at all (neither ctrl+k nor its default
ctrl+backslash), and an id no binding has (`app.nonexistent`), which only a toast at
start named. A desk built without the command keeps the binding's default key and
says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.cli import EXIT_CONFIG, main
from silvertine_tui.ui import keymap
from silvertine_tui.ui.keymap import SPECS, without_clashes
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from tests.ui.conftest import clock, make_desk, make_settings  # noqa: F401

# The docs' examples (docs/ui.md, Key map) and the test suite's remaps: all valid.
DOC_KEYS = ["ctrl+k", "f12,ctrl+j", "f12", "ctrl+g", "v", "ctrl+y", "j", "escape,k", "w", "f10"]
DOC_KEYS += ["i", "ctrl+x", "question_mark", "?", "shift+tab", "ctrl+shift+up", "alt+ctrl+k"]
DOC_KEYS += ["super+f5", "ctrl+question_mark", "ctrl+backslash", "C", "pageup", "space", "+"]

BAD = {
    "ctrl-k": "'ctrl-k' is not a key (write ctrl+k)",
    "Ctrl+K": "'Ctrl+K' is not a key (write ctrl+k)",
    "ctrl+\\": "'ctrl+\\\\' is not a key (write ctrl+backslash)",
    "F9": "'F9' is not a key (write f9)",
    "esc": "'esc' is not a key (write escape)",
    "ctrl++": "'ctrl++' is not a key (write ctrl+plus)",
    "ctrl+?": "'ctrl+?' is not a key (write ctrl+question_mark)",
}


def problems_of(keys: str) -> list[str]:
    return keymap.keymap_problems({"app.kill_switch": keys})


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_every_default_binding_passes_the_check(spec: Any) -> None:
    assert keymap.key_problem(spec.keys) == ""
    assert keymap.keymap_problems({spec.id: spec.keys}) == []


@pytest.mark.parametrize("keys", DOC_KEYS)
def test_the_docs_examples_pass_the_check(keys: str) -> None:
    assert keymap.key_problem(keys) == ""


@pytest.mark.parametrize(("keys", "rule"), BAD.items())
def test_a_key_textual_never_reports_is_named_with_its_spelling(keys: str, rule: str) -> None:
    assert problems_of(keys) == [f"ui.keymap.app.kill_switch: {rule}"]


def test_a_key_with_no_near_spelling_says_how_keys_are_written() -> None:
    (problem,) = problems_of("notakey!!")
    assert problem.startswith("ui.keymap.app.kill_switch: 'notakey!!' is not a key: write ")
    assert "joined by '+'" in problem
    (problem,) = problems_of("ctrl+k,")
    assert "empty key" in problem


def test_an_unknown_binding_id_is_named_with_the_nearest() -> None:
    (problem,) = keymap.keymap_problems({"app.kill_swich": "ctrl+k"})
    assert problem.startswith("ui.keymap.app.kill_swich: no binding has this id")
    assert "did you mean 'app.kill_switch'?" in problem


@given(st.sampled_from([s.id for s in SPECS]), st.sampled_from(sorted(BAD)))
def test_a_bad_key_is_never_applied_and_is_named(binding_id: str, keys: str) -> None:
    applied, found = without_clashes({binding_id: keys})
    assert binding_id not in applied  # the binding keeps its default keys
    assert [str(f) for f in found] == [f"ui.keymap.{binding_id}: {BAD[keys]}"]


@pytest.mark.parametrize("command", ["config", "run", "watch"])
@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            "app.kill_switch: ctrl-k",
            "ui.keymap.app.kill_switch: 'ctrl-k' is not a key (write ctrl+k)",
        ),
        ("app.nonexistent: x", "ui.keymap.app.nonexistent: no binding has this id"),
    ],
)
def test_the_command_refuses_it_with_exit_2(
    command: str,
    entry: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    config = tmp_path / "desk.yaml"
    config.write_text(f"bus:\n  url: redis://127.0.0.1:1/0\nui:\n  keymap:\n    {entry}\n")
    assert main([command, "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert f"invalid configuration in {config}" in captured.err
    assert said in captured.err
    assert captured.out == ""


async def test_a_desk_given_one_keeps_the_default_key_and_says_so(make_desk) -> None:  # noqa: F811
    """Built without `silvertine` (which refuses the config): the kill switch keeps
    ctrl+backslash, and an error toast names the entry."""
    desk = make_desk(settings=make_settings(keymap={"app.kill_switch": "ctrl-k"}))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        (toast,) = [n for n in desk.app._notifications if n.title == "Key map refused"]
        assert "ui.keymap.app.kill_switch: 'ctrl-k' is not a key (write ctrl+k)" in toast.message
        assert "Not applied: app.kill_switch: it keeps its default keys." in toast.message
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)  # "Kill switch?"
        await pilot.press("escape")
        await desk.settle(pilot)
        await desk.session.close()
