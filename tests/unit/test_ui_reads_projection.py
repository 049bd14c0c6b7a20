"""The UI reads the desk's projection and sends through the command gateway: nothing
else of the engine. An AST walk over silvertine_tui/ui (docs/architecture.md, Engine).

What ui/ may import from silvertine_tui.engine, by module and name:
- engine.projection (the read model) and engine.commands (the gateway): anything;
- engine (the package): `Session` (the app starts and closes it) and `FeedEntry`;
- engine.recovery: `RecoveryProgress`, `StartPhase` (the start-up banner's values);
- engine.risk: `RiskGate`, `RiskViolation` (the ticket's copy of the rules),
  `modify_violations` (the modify dialog checks a change with that copy, as the
  engine checks it with its gate: a pure function of the order, no engine state) and
  `modified_request` (the order as a change would leave it, for the dialog's notional
  and confirmation: a pure function of the order) and `MULTIPLIER_WORD` (a word of
  the gate's notional message, which the ticket says as the gate does);
- engine.anomalies: `ENGINE_COMPONENT`, `AnomalyKind` (names on the health stream);
- engine.order_history: `read_order_history`, `order_from_events` and
  `first_events_trimmed` (an evicted order's events, read back from the journal
  through the bus, the order they make in an OMS of their own, and whether the
  journal's retention took their start: nothing of the running engine).

And no attribute named `engine`, `oms`, `portfolio` or `gate` is read anywhere in
ui/, nor `brokers` of a session (the broker objects).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "silvertine_tui"
UI_SOURCES = sorted((PACKAGE / "ui").rglob("*.py"))

ANY = frozenset({"*"})
ALLOWED_FROM_ENGINE: dict[str, frozenset[str]] = {
    "silvertine_tui.engine.projection": ANY,
    "silvertine_tui.engine.commands": ANY,
    "silvertine_tui.engine": frozenset({"Session", "FeedEntry"}),
    "silvertine_tui.engine.recovery": frozenset({"RecoveryProgress", "StartPhase"}),
    "silvertine_tui.engine.risk": frozenset(
        {"RiskGate", "RiskViolation", "modify_violations", "modified_request", "MULTIPLIER_WORD"}
    ),
    "silvertine_tui.engine.anomalies": frozenset({"ENGINE_COMPONENT", "AnomalyKind"}),
    "silvertine_tui.engine.order_history": frozenset(
        {"read_order_history", "order_from_events", "first_events_trimmed"}
    ),
}
INTERNALS = frozenset({"engine", "oms", "portfolio", "gate"})


def _module_of(node: ast.ImportFrom, path: Path, root: Path) -> str:
    # The package a relative import starts from (a package's __init__ included).
    package = ["silvertine_tui", *path.relative_to(root).with_suffix("").parts][:-1]
    if not node.level:
        return node.module or ""
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def engine_reads(path: Path, root: Path = PACKAGE) -> list[str]:
    """Every place in `path` that reaches the engine other than through the
    projection and the command gateway."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("silvertine_tui.engine"):
                    found.append((node.lineno, f"imports {alias.name} whole"))
        elif isinstance(node, ast.ImportFrom):
            module = _module_of(node, path, root)
            if not (
                module == "silvertine_tui.engine" or module.startswith("silvertine_tui.engine.")
            ):
                continue
            allowed = ALLOWED_FROM_ENGINE.get(module)
            for alias in node.names:
                if allowed is None or (allowed is not ANY and alias.name not in allowed):
                    found.append((node.lineno, f"imports {alias.name} from {module}"))
        elif isinstance(node, ast.Attribute):
            if node.attr in INTERNALS:
                found.append((node.lineno, f"reads .{node.attr}"))
            elif node.attr == "brokers" and _names_a_session(node.value):
                found.append((node.lineno, "reads the session's broker objects"))
    return [f"{path.name}:{line} {what}" for line, what in sorted(found)]


def _names_a_session(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "session"
    return isinstance(node, ast.Attribute) and node.attr == "session"


@pytest.mark.parametrize("path", UI_SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ui_reads_only_the_projection(path: Path) -> None:
    problems = engine_reads(path)
    assert not problems, "\n".join(problems)


def test_the_walker_finds_each_kind_of_reach(tmp_path: Path) -> None:
    """Guard against a walker that silently finds nothing (the old desk's reads)."""
    (tmp_path / "ui" / "screens").mkdir(parents=True)
    bad = tmp_path / "ui" / "screens" / "main.py"
    bad.write_text(
        "from ...engine.oms import OrderView\n"
        "from ...engine.core import TradingEngine\n"
        "from ...engine.risk import RiskGate, reduce_limit\n"
        "from ...engine.projection import DeskProjection\n"
        "import silvertine_tui.engine.portfolio\n"
        "def draw(desk, session):\n"
        "    state = desk.engine.gate.state\n"
        "    working = desk.view.oms.working()\n"
        "    p = desk.session.engine.portfolio\n"
        "    for b in session.brokers: pass\n"
        "    fine = desk.view.working()\n"
        "    also_fine = desk.session.settings.brokers\n"
    )
    assert engine_reads(bad, tmp_path) == [
        "main.py:1 imports OrderView from silvertine_tui.engine.oms",
        "main.py:2 imports TradingEngine from silvertine_tui.engine.core",
        "main.py:3 imports reduce_limit from silvertine_tui.engine.risk",
        "main.py:5 imports silvertine_tui.engine.portfolio whole",
        "main.py:7 reads .engine",
        "main.py:7 reads .gate",
        "main.py:8 reads .oms",
        "main.py:9 reads .engine",
        "main.py:9 reads .portfolio",
        "main.py:10 reads the session's broker objects",
    ]
