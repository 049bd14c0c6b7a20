"""The registry builds adapters by type, imports them lazily, and finds third parties."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from silvertine_tui.brokers import BrokerRegistry, ConfigurationError
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, PaperBrokerConfig


def test_builds_the_paper_broker_from_config() -> None:
    broker = BrokerRegistry().create(PaperBrokerConfig(name="desk1"), MemoryBus())
    assert isinstance(broker, PaperBroker)
    assert broker.source == "desk1/main"


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as err:
        BrokerRegistry().create(ExternalBrokerConfig(name="x", type="kraken"), MemoryBus())
    message = str(err.value)
    assert "unknown broker type 'kraken'" in message
    assert "binance, ib, paper" in message
    assert "silvertine.brokers" in message


def test_a_paper_only_start_never_imports_venue_libraries() -> None:
    code = textwrap.dedent(
        """
        import asyncio, sys
        from silvertine_tui.config import Settings
        from silvertine_tui.engine import Session

        async def main():
            session = Session(Settings())
            await session.start()
            await session.close()

        asyncio.run(main())
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("binance", "ib_async"))
        print(",".join(loaded) or "none")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "none"


def test_third_party_adapter_joins_through_the_entry_point_group(tmp_path: Path) -> None:
    """A real distribution on sys.path with a `silvertine.brokers` entry point."""
    (tmp_path / "acme_broker.py").write_text(
        textwrap.dedent(
            """
            from tests.fakes.scripted_venue import ScriptedVenue

            class AcmeBroker(ScriptedVenue):
                kind = "acme"
            """
        )
    )
    dist = tmp_path / "acme_broker-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-broker\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[silvertine.brokers]\nacme = acme_broker:AcmeBroker\n")
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from silvertine_tui.brokers import BrokerRegistry
        from silvertine_tui.bus import MemoryBus
        from silvertine_tui.config import Settings

        settings = Settings.model_validate(
            {{"brokers": [{{"name": "acme1", "type": "acme", "account": "a1"}}]}}
        )
        registry = BrokerRegistry()
        broker = registry.create(settings.brokers[0], MemoryBus())
        print(type(broker).__name__, broker.source, "acme" in registry.known)
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["AcmeBroker", "acme1/a1", "True"]
