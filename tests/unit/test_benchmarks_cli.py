"""`python -m benchmarks`: the dispatcher, the throwaway Redis, and the `bus` JSON shape.

Performance targets are reported by the benchmark, never asserted here: a loaded CI
machine may miss them.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import COMMANDS, main
from benchmarks._redis import throwaway_server

ROOT = Path(__file__).resolve().parents[2]

needs_redis = pytest.mark.redis  # the tests start their own server (a missing binary fails)

BUS_RATES = (
    "naive_xadd_per_s",
    "raw_pipeline_per_s",
    "bus_md_publish_per_s",
    "bus_exec_publish_per_s",
    "memory_bus_publish_per_s",
    "tail_latency_p50_us",
    "tail_latency_p99_us",
    "md_tail_latency_p99_us",
    "replay_per_s",
    "ratio_md_vs_raw",
    "cpu_count",
    "events",
)
VERSIONS = ("python_version", "redis_py_version", "hiredis_version", "redis_server_version")
TARGETS = ("ratio_md_vs_raw", "replay_per_s", "tail_latency_p99_us")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bus_help_shows_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bus", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--redis-url", "--events", "--json"):
        assert option in out


def _ping(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.redis
@needs_redis
def test_throwaway_server_is_stopped_on_exit() -> None:
    with throwaway_server() as url:
        assert url.startswith("redis://127.0.0.1:")
        assert _ping(url)
    assert not _ping(url)


@pytest.mark.slow
@pytest.mark.redis
@needs_redis
def test_bus_json_has_every_metric() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "bus", "--events", "2000", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got: {proc.stdout[:500]}"
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    for key in BUS_RATES:
        value = result.get(key)
        assert isinstance(value, int | float), key
        assert not isinstance(value, bool), key
        assert math.isfinite(value), (key, value)
        assert value > 0, (key, value)
    for key in VERSIONS:
        assert isinstance(result.get(key), str), key
        assert result[key], key
    assert result["events"] == 2000
    for key in TARGETS:
        assert isinstance(result["targets"][key]["pass"], bool), key
    assert isinstance(result["targets_met"], bool)
    # Correctness, not speed: every market data event reached the stream.
    assert result["bus_md_entries_added"] == 2000
    assert result["bus_md_stats_published"] == 2000
    assert result["keys_deleted"] > 0


def test_engine_json_has_every_figure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "engine",
            "--orders",
            "50",
            "--events",
            "2000",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    for key in ("order_roundtrip_p50_us", "order_roundtrip_p99_us", "recovery_events_per_s"):
        assert isinstance(result[key], float)
        assert math.isfinite(result[key])
        assert result[key] > 0
    assert result["orders"] == 50
    assert result["recovery_events"] == 2000
    assert set(result["targets"]) == {
        "order_roundtrip_p99_us < 2000",
        "recovery_events_per_s >= 50000",
    }
