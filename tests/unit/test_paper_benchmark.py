"""`python -m benchmarks paper`: the JSON shape and that every phase really ran.

Speed targets are reported by the benchmark, never asserted here (a loaded CI machine
may miss them).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

RATES = (
    "market_books_per_s",
    "book_updates_per_s",
    "book_updates_queue_model_per_s",
    "book_updates_busy_per_s",
    "orders_per_s",
    "adapter_orders_per_s",
    "adapter_book_updates_per_s",
)


def test_paper_is_registered() -> None:
    assert COMMANDS["paper"][0] == "benchmarks.paper"


def test_paper_json_has_every_figure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "paper",
            "--book-updates",
            "3000",
            "--orders",
            "500",
            "--adapter-orders",
            "100",
            "--adapter-book-updates",
            "100",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON object, got: {proc.stdout[:300]}"
    result = json.loads(lines[0])
    for key in RATES:
        value = result[key]
        assert isinstance(value, float), key
        assert math.isfinite(value), key
        assert value > 0, key
    assert result["book_updates"] == 3000
    assert result["resting_orders_min"] == 1000  # topped up to 1,000 before every chunk
    assert result["orders"] == 500
    assert result["fills_per_order"] >= 1  # every order filled
    assert result["adapter_events_per_order"] == 7
    for key in ("book_updates_per_s", "orders_per_s"):
        target = result["targets"][key]
        assert target["op"] == ">="
        assert isinstance(target["pass"], bool)
    assert isinstance(result["targets_met"], bool)
