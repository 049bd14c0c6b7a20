"""The README's set-up commands are the ones CI runs and the ones that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command_lines(text: str) -> list[str]:
    return [
        line.strip() for line in text.splitlines() if line.strip().startswith("python3 -m venv")
    ]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = command_lines((ROOT / ".ci" / "run").read_text())
    readme = command_lines((ROOT / "README.md").read_text())
    assert len(ci) == 1, "the test command is one line in .ci/run"
    assert ci[0] in readme, "README must show exactly the command .ci/run runs"
    assert "pytest" in ci[0]


def test_readme_has_a_run_command_that_starts_the_app() -> None:
    readme = command_lines((ROOT / "README.md").read_text())
    run = [line for line in readme if "pytest" not in line]
    assert run, "README needs the install-and-run command"
    assert re.search(r"\.venv/bin/silvertine\b", run[0])
