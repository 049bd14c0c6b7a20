"""`python -m benchmarks`: the dispatcher, the throwaway Redis, and the `bus` JSON shape.

Performance targets are reported by the benchmark, never asserted here: a loaded CI
machine may miss them.
"""

from __future__ import annotations

import json
import math
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.__main__ import COMMANDS, main
from benchmarks._redis import throwaway_server
from benchmarks.ui import fill_sells

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
    "tail_latency_achieved_rate_per_s",
    "raw_xread_tail_p50_us",
    "raw_xread_tail_p99_us",
    "raw_xread_achieved_rate_per_s",
    "ratio_tail_vs_raw",
    "raw_xrange_per_s",
    "ratio_replay_vs_raw_xrange",
    "xrange_transport_per_s",
    "payload_validation_per_s",
    "replay_ceiling_per_s",
    "ratio_replay_ceiling_vs_raw_xrange",
    "ratio_replay_vs_raw_xrange_cpu",
    "xrange_decode_per_s",
    "cpu_count",
    "events",
)
VERSIONS = ("python_version", "redis_py_version", "hiredis_version", "redis_server_version")
TARGETS = {
    "ratio_md_vs_raw": (">=", 0.9),
    "ratio_replay_vs_raw_xrange": (">=", 0.6),
    "ratio_tail_vs_raw": ("<=", 1.5),
}


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
    # The raw pipeline baseline batches as deep as the bus's own flusher.
    assert result["pipeline"] == 500
    assert set(result["targets"]) == set(TARGETS)
    for key, (op, threshold) in TARGETS.items():
        target = result["targets"][key]
        assert (target["op"], target["threshold"]) == (op, threshold), key
        assert target["value"] == result[key], key
        met = target["value"] >= threshold if op == ">=" else target["value"] <= threshold
        assert target["pass"] is met, key
    # The ratios are the figures they say they are, from the same run.
    assert result["ratio_tail_vs_raw"] == pytest.approx(
        result["tail_latency_p99_us"] / result["raw_xread_tail_p99_us"]
    )
    assert result["ratio_replay_vs_raw_xrange"] == pytest.approx(
        result["replay_per_s"] / result["raw_xrange_per_s"]
    )
    assert result["ratio_replay_ceiling_vs_raw_xrange"] == pytest.approx(
        result["replay_ceiling_per_s"] / result["raw_xrange_per_s"]
    )
    # Replay's client CPU split into stages that add up to it, each from the same run.
    stages = result["replay_stage_cpu_us"]
    assert stages["transport"] == result["xrange_transport_cpu_us_per_event"]
    assert stages["payload_validation"] == result["payload_validation_cpu_us_per_event"]
    assert stages["replay"] == result["replay_cpu_us_per_event"]
    assert stages["raw_xrange"] == result["raw_xrange_cpu_us_per_event"]
    parts = ("transport", "payload_validation", "header_and_envelope", "entry_yield_and_consumer")
    assert sum(stages[k] for k in parts) == pytest.approx(stages["replay"])
    assert stages["header_and_envelope"] == pytest.approx(
        result["xrange_decode_cpu_us_per_event"]
        - result["xrange_transport_cpu_us_per_event"]
        - result["payload_validation_cpu_us_per_event"]
    )
    for detail in ("tail_latency_detail", "raw_xread_tail_detail"):
        assert result[detail]["samples"] == result["latency_events"], detail
        assert result[detail]["missing"] == 0, detail
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
    for key in (
        "order_roundtrip_p50_us",
        "order_roundtrip_p99_us",
        "bus_roundtrip_p50_us",
        "bus_roundtrip_p99_us",
        "ratio_order_vs_bus_roundtrip_p50",
        "recovery_events_per_s",
        "replay_events_per_s",
        "ratio_recovery_vs_replay",
        "recovery_replay_us_per_event",
    ):
        assert isinstance(result[key], float), key
        assert math.isfinite(result[key]), key
        assert result[key] > 0, key
    assert result["orders"] == 50
    assert result["recovery_events"] == 2000
    assert result["ratio_recovery_vs_replay"] == pytest.approx(
        result["recovery_events_per_s"] / result["replay_events_per_s"]
    )
    # Reading plus applying one event is one recovered event.
    assert result["recovery_replay_us_per_event"] + result[
        "recovery_apply_us_per_event"
    ] == pytest.approx(1e6 / result["recovery_events_per_s"])
    assert set(result["targets"]) == {
        "order_roundtrip_p99_us < 2000",
        "recovery_events_per_s >= 50000",
        "ratio_recovery_vs_replay >= 0.7",
    }
    assert result["targets"]["ratio_recovery_vs_replay >= 0.7"] is (
        result["ratio_recovery_vs_replay"] >= 0.7
    )


def test_engine_table_says_whether_each_target_was_met() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "engine", "--orders", "20", "--events", "500"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for line in (
        "ratio_recovery_vs_replay >= 0.7",
        "order_roundtrip_p99_us < 2000",
        "recovery_events_per_s >= 50000",
    ):
        row = next((r for r in proc.stdout.splitlines() if r.startswith(line)), None)
        assert row is not None, (line, proc.stdout)
        assert row.split()[-1] in ("yes", "NO"), row


UI_FIGURES = (
    # the working desk at 256 colours
    "event_loop_lag_p99_ms",
    "event_loop_lag_p50_ms",
    "keypress_to_ticket_p99_ms",
    "keypress_to_ticket_p50_ms",
    "quote_to_screen_p99_ms",
    "quote_to_screen_p50_ms",
    "rss_growth_mb",
    "rss_end_mb",
    "bytes_to_terminal_per_s",
    "child_start_to_first_frame_s",
    "frames_per_s",
    "quote_events_per_s",
    "fills_per_s",
    # `silvertine run` itself launched beside the bare app, same run
    "start_to_first_frame_s",
    "bare_start_to_first_frame_s",
    "cpu_to_first_frame_s",
    "bare_cpu_to_first_frame_s",
    "ratio_cpu_start_vs_bare",
    # the bare Textual reference, same run
    "bare_event_loop_lag_p99_ms",
    "bare_keypress_to_ticket_p99_ms",
    "bare_quote_to_screen_p99_ms",
    "bare_bytes_to_terminal_per_s",
    "bare_rss_growth_mb",
    "bare_child_start_to_first_frame_s",
    "bare_quote_updates_per_s",
    "ratio_keypress_vs_bare",
    "ratio_quote_vs_bare",
    "ratio_start_vs_bare",
    # the desk again with COLORTERM=truecolor
    "truecolor_event_loop_lag_p99_ms",
    "truecolor_keypress_to_ticket_p99_ms",
    "truecolor_quote_to_screen_p99_ms",
    "truecolor_bytes_to_terminal_per_s",
    "truecolor_rss_growth_mb",
    "truecolor_child_start_to_first_frame_s",
    "truecolor_fills_per_s",
)
UI_COUNTS = (
    "keypresses_measured",
    "keypresses_sent",
    "quotes_to_screen_measured",
    "working_orders",
    "positions",
    "orders_placed",
    "orders_finished",
    "orders_rejected",
    "working_orders_end",
    "bare_keypresses_measured",
    "bare_quotes_to_screen_measured",
    "truecolor_orders_finished",
    "start_launches",
)
UI_TARGETS = {
    "event_loop_lag_p99_ms": ("<", 50.0),
    "keypress_to_ticket_p99_ms": ("<", 100.0),
    "quote_to_screen_p99_ms": ("<", 100.0),
    "rss_growth_mb": ("<", 50.0),
    "bytes_to_terminal_per_s": ("<", 100_000.0),
    "ratio_keypress_vs_bare": ("<=", 1.5),
    "ratio_quote_vs_bare": ("<=", 1.5),
    "ratio_start_vs_bare": ("<=", 2.0),
}
UI_SHORT = [
    "--seconds", "3", "--warmup", "1", "--presses", "3", "--orders", "20", "--start-launches", "2",
]  # fmt: skip


@pytest.mark.slow
def test_ui_json_has_every_figure_of_desk_reference_and_truecolour() -> None:
    """A short run (the default is 60 s): every figure is there, from this run."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "ui", *UI_SHORT, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON object, got: {proc.stdout[:500]}"
    result = json.loads(lines[0])
    for key in UI_FIGURES:
        value = result.get(key)
        assert isinstance(value, int | float), key
        assert not isinstance(value, bool), key
    for key in UI_COUNTS:
        assert isinstance(result.get(key), int), key
    # The desk was a working desk, and the run placed and finished orders on it.
    assert result["working_orders"] == 50
    assert result["positions"] == 50
    assert result["orders_placed"] == 20  # every one, fills and cancels
    assert result["orders_finished"] == 20
    assert result["orders_rejected"] == 0
    # The reference app is measured the same way: its figures are real measurements.
    assert result["bare_keypresses_measured"] > 0
    assert result["bare_quotes_to_screen_measured"] > 0
    # The start figure is `silvertine run`'s own, launched beside the bare app (the
    # median of each side's launches), not this harness's child.
    assert result["start_launches"] == 2
    desk_runs, bare_runs = result["start_desk_runs_s"], result["start_bare_runs_s"]
    assert len(desk_runs) == len(bare_runs) == 2
    assert result["start_to_first_frame_s"] == pytest.approx(statistics.median(desk_runs), abs=2e-3)
    assert result["bare_start_to_first_frame_s"] == pytest.approx(
        statistics.median(bare_runs), abs=2e-3
    )
    assert 0 < result["bare_start_to_first_frame_s"] < 30
    assert 0 < result["start_to_first_frame_s"] < 60
    assert result["ratio_start_vs_bare"] == pytest.approx(
        result["start_to_first_frame_s"] / result["bare_start_to_first_frame_s"], rel=1e-2
    )
    assert set(result["targets_met"]) == set(UI_TARGETS)
    for key, (op, limit) in UI_TARGETS.items():
        value = result[key]
        met = math.isfinite(value) and (value < limit if op == "<" else value <= limit)
        assert result["targets_met"][key] is met, key


@pytest.mark.slow
def test_ui_table_shows_each_target_and_whether_it_was_met() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "ui", *UI_SHORT, "--no-truecolor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = proc.stdout.splitlines()
    for key, (op, _) in UI_TARGETS.items():
        row = next((r for r in rows if r.split() and r.split()[0] == key), None)
        assert row is not None, (key, proc.stdout)
        assert f"{op} " in row, row
        assert row.split()[-1] in ("ok", "MISSED"), row
    assert not any(r.startswith("truecolor_") for r in rows)


@given(symbols=st.integers(1, 60), orders=st.integers(0, 3000))
def test_ui_desk_fills_never_sell_a_position_away(symbols: int, orders: int) -> None:
    """The desk's fills alternate buy and sell per symbol: each one-lot position opened
    before the run stays between its size and one lot more (nothing is refused)."""
    held = [0] * symbols
    for n in range(orders):
        held[n % symbols] += -1 if fill_sells(n, symbols) else 1
        assert 0 <= held[n % symbols] <= 1
