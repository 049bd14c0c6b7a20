"""`python -m benchmarks paper_restore`: the JSON shape, and that the rebuild it measures
holds the window, not the journal (a small journal, its own throwaway Redis)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def test_paper_restore_is_registered() -> None:
    assert COMMANDS["paper_restore"][0] == "benchmarks.paper_restore"


@pytest.mark.redis
def test_paper_restore_json_has_every_figure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "paper_restore",
            "--orders",
            "1500",
            "--rounds",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON object, got: {proc.stdout[:300]}"
    result = json.loads(lines[0])
    assert result["entries"] > 1500 * 5
    for mode in ("replay", "restore"):
        for key in ("seconds", "cpu_s", "rss_before_mb", "peak_mb", "rss_after_mb"):
            assert result[f"{mode}_{key}"] > 0, (mode, key)
    # 1,500 orders, 2 of them working (every 600th): the window of 1,000 and those.
    assert result["restore_working_orders"] == 2
    assert result["restore_venue_orders"] == 1002
    assert result["restore_peak_orders"] <= 1003
    assert result["live_venue_orders"] <= 1003
    assert result["live_published_status"] <= 1003
