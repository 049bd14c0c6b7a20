"""The desk's terminal writer at 256 colours: a colour is written when it changes, and
only the part that changed; attributes changing reset first; the update ends reset."""

from __future__ import annotations

import io

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from silvertine_tui.ui.lean_update import LeanWriter

CONSOLE = Console(color_system="256", force_terminal=True, file=io.StringIO(), width=80)
BASE = Style(color="color(188)", bgcolor="color(16)")
GREEN = BASE + Style(color="color(71)")
BOLD = GREEN + Style(bold=True)


def test_colours_are_written_when_they_change_and_only_what_changed() -> None:
    writer = LeanWriter(CONSOLE)
    writer.write(10, 3, Strip([Segment("85", GREEN), Segment(".2", GREEN), Segment(" 1", BASE)]))
    writer.write(16, 3, Strip([Segment("x", BASE)]))  # where the cursor is: no move
    writer.write(20, 4, Strip([Segment("9", BOLD), Segment("7", GREEN)]))
    assert writer.finish() == (
        "\x1b[4;11H\x1b[38;5;71;48;5;16m85.2"  # one colour for both segments
        "\x1b[38;5;188m 1"  # the foreground alone changed
        "x"
        "\x1b[5;21H\x1b[0;1;38;5;71;48;5;16m9"  # bold added: reset, then all of it
        "\x1b[0;38;5;71;48;5;16m7"  # bold gone: reset, then the colours
        "\x1b[0m"
    )


def test_a_plain_segment_resets_and_an_empty_update_writes_nothing() -> None:
    writer = LeanWriter(CONSOLE)
    assert writer.finish() == ""
    writer.write(0, 0, Strip([Segment("a", GREEN), Segment("b", None), Segment("c", Style())]))
    assert writer.finish() == "\x1b[1;1H\x1b[38;5;71;48;5;16ma\x1b[0mbc"
