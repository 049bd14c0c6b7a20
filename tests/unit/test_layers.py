"""The layers of docs/architecture.md: imports point down only.

domain <- events <- bus <- brokers <- engine <- ui. The UI never imports a broker
package (ours or a venue's client library); nothing below the UI imports Textual.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "silvertine_tui"

# layer -> the project layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "events": {"domain"},
    "bus": {"events", "domain"},
    "config": {"domain", "config_sources"},
    "config_sources": {"config", "domain"},  # config's file and environment sources
    "brokers": {"bus", "events", "domain", "config", "logsetup"},
    "engine": {"brokers", "bus", "events", "domain", "config", "logsetup"},
    "ui": {"engine", "events", "domain", "config", "logsetup"},
    "logsetup": set(),
    "cli": {"ui", "engine", "brokers", "bus", "events", "domain", "config", "logsetup", "__init__"},
    "__main__": {"cli"},
    "__init__": set(),
}
VENUE_LIBRARIES = {"binance", "ib_async", "ibapi"}
UI_LIBRARIES = {"textual"}


def layer_of(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def imports_of(path: Path, root: Path = PACKAGE) -> set[str]:
    """Absolute dotted names imported by `path`, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = ["silvertine_tui", *path.relative_to(root).with_suffix("").parts]
    if module_parts[-1] == "__init__":
        module_parts.pop()
        package_parts = module_parts
    else:
        package_parts = module_parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def project_layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "silvertine_tui" or len(parts) < 2:
        return None
    if parts[1].startswith("__") and parts[1] != "__main__":
        return "__init__"  # a name from the package itself (__version__)
    return parts[1]


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = {layer_of(p) for p in SOURCES} - set(ALLOWED)
    assert not unknown, f"add these to docs/architecture.md and ALLOWED: {unknown}"


def violations(path: Path, root: Path = PACKAGE) -> list[str]:
    layer = layer_of(path, root)
    problems = []
    for name in sorted(imports_of(path, root)):
        target = project_layer(name)
        top = name.split(".")[0]
        if target is not None and target != layer and target not in ALLOWED[layer]:
            problems.append(f"{layer} may not import {name}")
        if top in VENUE_LIBRARIES and layer != "brokers":
            problems.append(f"only brokers may import {name}")
        if top in UI_LIBRARIES and layer not in ("ui", "cli"):
            problems.append(f"{layer} may not import {name} (Textual belongs to ui)")
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    problems = violations(path)
    assert not problems, "\n".join(problems)


def test_the_checker_catches_violations(tmp_path: Path) -> None:
    """Guard against a walker that silently finds nothing."""
    (tmp_path / "ui").mkdir()
    (tmp_path / "bus").mkdir()
    bad_ui = tmp_path / "ui" / "ticket.py"
    bad_ui.write_text(
        "from ..brokers.paper import PaperBroker\nimport ib_async\nfrom .widgets import x\n"
    )
    bad_bus = tmp_path / "bus" / "redis_streams.py"
    bad_bus.write_text("from textual.app import App\nfrom silvertine_tui.engine import oms\n")
    assert violations(bad_ui, tmp_path) == [
        "only brokers may import ib_async",
        "ui may not import silvertine_tui.brokers.paper",
        "ui may not import silvertine_tui.brokers.paper.PaperBroker",
    ]
    assert violations(bad_bus, tmp_path) == [
        "bus may not import silvertine_tui.engine",
        "bus may not import silvertine_tui.engine.oms",
        "bus may not import textual.app (Textual belongs to ui)",
        "bus may not import textual.app.App (Textual belongs to ui)",
    ]


ENGINE_COMMANDS = frozenset(
    {"submit", "cancel", "modify", "cancel_all", "kill", "resume", "set_trading_state"}
)


def _names_the_engine(node: ast.expr) -> bool:
    """`engine`, `self.engine`, `self.desk.engine`, `desk.session.engine`, ..."""
    if isinstance(node, ast.Name):
        return node.id == "engine"
    return isinstance(node, ast.Attribute) and node.attr == "engine"


def engine_commands_reached(path: Path) -> list[str]:
    """Every `<engine>.submit/cancel/...` in `path`, called or passed along: the UI
    sends commands through the command gateway (engine/commands.py) only, so that they
    can be carried over a stream without touching a widget."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ENGINE_COMMANDS
        and _names_the_engine(node.value)
    ]
    return [
        f"{path.name}:{node.lineno} reaches engine.{node.attr} directly"
        for node in sorted(found, key=lambda n: (n.lineno, n.col_offset))
    ]


UI_SOURCES = sorted((PACKAGE / "ui").rglob("*.py"))


def test_the_ui_sends_commands_through_the_gateway_only() -> None:
    found = [line for path in UI_SOURCES for line in engine_commands_reached(path)]
    assert not found, "\n".join(found)


def test_the_command_checker_catches_direct_calls(tmp_path: Path) -> None:
    """Guard against a walker that silently finds nothing."""
    bad = tmp_path / "ticket.py"
    bad.write_text(
        "async def f(self, engine):\n"
        "    await self.desk.engine.submit(r)\n"
        "    self.run(engine.cancel_all)\n"
        "    await self.gateway.send(c)\n"
        "    await self.oms.cancel(x)\n"
    )
    assert engine_commands_reached(bad) == [
        "ticket.py:2 reaches engine.submit directly",
        "ticket.py:3 reaches engine.cancel_all directly",
    ]
